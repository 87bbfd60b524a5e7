"""Reader API writing calls: read/starred state and subscriptions (feeds.yaml)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from aggregator.exceptions import AggregatorError, NotFoundError
from aggregator.urls import redact_url
from aggregator.web.greader.api import (
    Caller,
    ReaderApi,
    _str,
    _ts,
    bad_request,
    error_text,
    json_response,
)
from aggregator.web.greader.streams import KEPT_UNREAD, READ, STARRED, parse_stream

# ------------------------------------------------------------ handlers: state


async def edit_tag(api: ReaderApi, request: Request, caller: Caller) -> Response:
    p = await api.params(request)
    if (refused := await api.check_post(request, caller, p)) is not None:
        return refused
    given = [str(v) for v in p.getlist("i") if v]
    if not given:
        return bad_request("no item (i=) given")
    ids = api.ids()
    articles = [a for v in given if (a := ids.article_id(v)) is not None]
    add = {str(v) for v in p.getlist("a")}
    remove = {str(v) for v in p.getlist("r")}
    read = _flag(add, remove, READ)
    if read is None and KEPT_UNREAD in add:
        read = False
    starred = _flag(add, remove, STARRED)
    if articles and (read is not None or starred is not None):
        await api.run(_set_state, api, caller.user, articles, read, starred)
    return PlainTextResponse("OK")


def _set_state(
    api: ReaderApi, user: str, ids: list[int], read: bool | None, starred: bool | None
) -> None:
    """The desk's triage, for the stories that exist (an id is ours by its prefix, but
    the story may have been pruned)."""
    known = [i for i in ids if i in api.agg.first_seen(ids)]
    if not known:
        return
    if read is not None:
        api.agg.set_read(user, known, read)
    if starred is not None:
        api.agg.set_starred(user, known, starred)


async def mark_all_as_read(api: ReaderApi, request: Request, caller: Caller) -> Response:
    p = await api.params(request)
    if (refused := await api.check_post(request, caller, p)) is not None:
        return refused
    s = _str(p.get("s"))
    if not s:
        return bad_request("no stream (s=) given")
    f = api.filter(caller.user, api.parse(s))
    until = _ts(_str(p.get("ts")))
    await api.run(api.agg.mark_all_read, f, until)
    return PlainTextResponse("OK")


# ------------------------------------------------------------ handlers: subscriptions


async def quickadd(api: ReaderApi, request: Request, caller: Caller) -> Response:
    p = await api.params(request)
    if (refused := await api.check_post(request, caller, p)) is not None:
        return refused
    url = (_str(p.get("quickadd")) or "").strip()
    url = url.removeprefix("feed/")
    if not url:
        return bad_request("no URL (quickadd=) given")
    try:
        feed = await api.run(api.agg.add_feed, url)
    except AggregatorError as e:
        return json_response(
            {"numResults": 0, "query": redact_url(url), "error": error_text(e)}, 400
        )
    added = api.agg.config.feed(feed.name)
    return json_response(
        {
            "numResults": 1,
            "query": redact_url(url),
            "streamId": api.feed_streams().stream_id(added) if added else "",
            "streamName": feed.title or feed.name,
        }
    )


async def subscription_edit(api: ReaderApi, request: Request, caller: Caller) -> Response:
    p = await api.params(request)
    if (refused := await api.check_post(request, caller, p)) is not None:
        return refused
    action = _str(p.get("ac")) or "edit"
    streams = [str(v) for v in p.getlist("s") if v]
    if not streams or action not in ("subscribe", "unsubscribe", "edit"):
        return bad_request("subscription/edit needs ac=subscribe|unsubscribe|edit and s=")
    title = _str(p.get("t"))
    add = [_label(str(v)) for v in p.getlist("a") if _label(str(v))]
    remove = [_label(str(v)) for v in p.getlist("r") if _label(str(v))]
    for s in streams:
        stream = parse_stream(s)
        if stream is None or stream.kind != "feed":
            return bad_request(f"{s!r} is not a feed stream id (feed/<url>)")
        await api.run(_edit_one, api, action, stream.value, title, add, remove)
    return PlainTextResponse("OK")


def _edit_one(
    api: ReaderApi, action: str, url: str, title: str | None, add: list[str], remove: list[str]
) -> None:
    feed = api.feed_streams().feed(url)  # its stream id, or its full URL
    if action == "subscribe" and feed is None:
        api.agg.add_feed(url, title=title, tags=add)
        return
    if feed is None:
        raise NotFoundError(f"no subscription feed/{url}")
    if action == "unsubscribe":
        api.agg.remove_feed(feed.name)
        return
    api.agg.edit_feed(feed.name, title=title, add_tags=add, remove_tags=remove)


def _flag(add: set[str], remove: set[str], tag: str) -> bool | None:
    if tag in add:
        return True
    if tag in remove:
        return False
    return None


def _label(stream_id: str) -> str:
    """``user/-/label/Tech`` → ``Tech`` (topics' labels are not feed tags)."""
    s = parse_stream(stream_id)
    if s is not None and s.kind == "label":
        return s.value
    if not stream_id.startswith(("user/", "feed/")) and stream_id and "/" not in stream_id:
        return stream_id
    return ""
