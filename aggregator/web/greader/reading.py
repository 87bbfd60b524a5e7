"""Reader API reading calls: subscriptions, tags, unread counts, streams, items."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response

from aggregator.urls import redact_url
from aggregator.web.greader.api import (
    MAX_CONTENTS,
    MAX_IDS,
    Caller,
    ReaderApi,
    _site,
    _str,
    _stream_from_path,
    json_response,
)
from aggregator.web.greader.render import Shown, atom, stream_json
from aggregator.web.greader.streams import READING_LIST, STARRED, label_stream_id, topic_stream_id

#: Unread counts stop here, as Google Reader's did ("1000+").
UNREAD_MAX = 1000

# ------------------------------------------------------------ handlers: lists


async def subscription_list(api: ReaderApi, request: Request, caller: Caller) -> Response:
    base = api.base_url()
    streams = api.feed_streams()
    subs: list[dict[str, object]] = []
    for f in api.agg.config.feeds:
        site = _site(f.url)
        subs.append(
            {
                "id": streams.stream_id(f),
                "title": f.title or f.name,
                "categories": [{"id": label_stream_id(t), "label": t} for t in f.tags],
                "url": redact_url(f.url),
                "htmlUrl": site,
                "iconUrl": "",
                "sortid": f.name,
            }
        )
    for t in api.agg.config.topics:
        page = f"{base}/topics/{quote(t.name)}" if base else ""
        subs.append(
            {
                "id": topic_stream_id(t.name),
                "title": f"Topic: {t.name}",
                "categories": [],
                "url": page,
                "htmlUrl": page,
                "iconUrl": "",
                "sortid": f"topic:{t.name}",
            }
        )
    return json_response({"subscriptions": subs})


async def tag_list(api: ReaderApi, request: Request, caller: Caller) -> Response:
    tags: list[dict[str, object]] = [{"id": STARRED}]
    for tag in sorted({t for f in api.agg.config.feeds for t in f.tags}):
        tags.append({"id": label_stream_id(tag), "type": "folder"})
    for t in api.agg.config.topics:
        tags.append({"id": topic_stream_id(t.name), "type": "tag"})
    return json_response({"tags": tags})


async def unread_count(api: ReaderApi, request: Request, caller: Caller) -> Response:
    """Unread stories per feed, tag, topic and the reading list, counted up to UNREAD_MAX
    (as Google Reader's "1000+"); streams with none are left out, the reading list never."""
    c = await api.run(api.agg.reader_unread_counts, caller.user, UNREAD_MAX)
    streams = api.feed_streams()
    ids = {f.name: streams.stream_id(f) for f in api.agg.config.feeds}
    rows = [(ids[n], v) for n, v in c.feeds.items() if n in ids]
    rows += [(label_stream_id(tag), v) for tag, v in sorted(c.tags.items())]
    rows += [(topic_stream_id(name), v) for name, v in c.topics.items()]
    out = [
        {"id": sid, "count": n, "newestItemTimestampUsec": str(_usec(seen))}
        for sid, (n, seen) in rows
        if n
    ]
    n, seen = c.total
    out.append({"id": READING_LIST, "count": n, "newestItemTimestampUsec": str(_usec(seen))})
    return json_response({"max": UNREAD_MAX, "unreadcounts": out})


def _usec(when: datetime | None) -> int:
    return int(when.timestamp() * 1_000_000) if when else 0


# ------------------------------------------------------------ handlers: streams


async def stream_contents(api: ReaderApi, request: Request, caller: Caller) -> Response:
    p = await api.params(request)
    raw = request.path_params.get("stream") or _str(p.get("s")) or READING_LIST
    return await _contents(
        api, request, caller, _stream_from_path(request, raw), p, atom_out=p.get("output") == "atom"
    )


async def atom_stream(api: ReaderApi, request: Request, caller: Caller) -> Response:
    raw = _stream_from_path(request, request.path_params.get("stream") or READING_LIST)
    return await _contents(api, request, caller, raw, request.query_params, atom_out=True)


async def _contents(
    api: ReaderApi,
    request: Request,
    caller: Caller,
    raw: str,
    p: QueryParams | FormData,
    *,
    atom_out: bool,
) -> Response:
    stream = api.parse(raw)
    f = api.filter(caller.user, stream, p, MAX_CONTENTS)
    view = stream.value if atom_out and stream.kind == "topic" else None

    def build() -> tuple[list[Shown], str | None]:
        ids, cont = api.page(f)
        return api.shown(caller.user, ids, view=view), cont

    items, cont = await api.run(build)
    title = api.stream_title(stream)
    if atom_out:
        body = atom(
            stream_id=api.stream_id(stream),
            title=title,
            self_url=api.self_url(request, stream),
            items=items,
            continuation=cont,
            now=api.now(),
        )
        return Response(body, media_type="application/atom+xml; charset=utf-8")
    return json_response(
        stream_json(
            stream_id=api.stream_id(stream),
            title=title,
            self_url=api.self_url(request, stream),
            items=items,
            continuation=cont,
            now=api.now(),
            author=caller.user,
        )
    )


async def items_ids(api: ReaderApi, request: Request, caller: Caller) -> Response:
    p = await api.params(request)
    stream = api.parse(_str(p.get("s")) or READING_LIST)
    f = api.filter(caller.user, stream, p, MAX_IDS)
    found, cont = await api.run(api.page, f)
    ids = api.ids()
    out: dict[str, object] = {"itemRefs": [{"id": ids.short(a)} for a in found]}
    if cont:
        out["continuation"] = cont
    return json_response(out)


async def items_contents(api: ReaderApi, request: Request, caller: Caller) -> Response:
    p = await api.params(request)
    ids = api.ids()
    wanted = [a for v in p.getlist("i") if (a := ids.article_id(str(v))) is not None]
    wanted.sort(reverse=p.get("r") != "o")

    items = await api.run(api.shown, caller.user, wanted)
    return json_response(
        stream_json(
            stream_id=READING_LIST,
            title="Items",
            self_url=str(request.url),
            items=items,
            continuation=None,
            now=api.now(),
            author=caller.user,
        )
    )


async def preferences(api: ReaderApi, request: Request, caller: Caller) -> Response:
    return json_response({"prefs": []})


async def stream_preferences(api: ReaderApi, request: Request, caller: Caller) -> Response:
    return json_response({"streamprefs": {}})
