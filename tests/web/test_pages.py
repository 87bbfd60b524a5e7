"""The desk over real HTTP: pages, triage, CSRF, escaping, CSP, Atom feeds, login."""

from __future__ import annotations

import re
from pathlib import Path

import feedparser
import httpx
import pytest

from aggregator.exceptions import ConfigError
from aggregator.web.app import CSP, check_exposure
from tests.support.httpserver import LoopbackServer
from tests.web.conftest import Desk, make_desk


def client(desk: Desk) -> httpx.Client:
    return httpx.Client(base_url=desk.url, follow_redirects=False, timeout=10)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def test_stream_shows_the_matched_seed_story_with_its_snippet(desk: Desk) -> None:
    with client(desk) as c:
        r = c.get("/")
        assert r.status_code == 200
        assert desk.seed.title.replace("'", "&#39;") in r.text
        assert "<mark>" in r.text and "export" in r.text.lower()
        assert "eulerpool" in r.text and ">fr<" in r.text
        topic = c.get("/topics/export-controls")
        assert topic.status_code == 200 and f"/items/{desk.story_id()}" in topic.text
        assert c.get("/topics/no-such-topic").status_code == 404
        assert (
            c.get("/?topic=export-controls").headers["location"].endswith("/topics/export-controls")
        )
        assert c.get("/", params={"language": "de"}).text.count('class="story') == 0
        assert c.get("/", params={"feed": "eulerpool"}).text.count('class="story') == 1
        assert c.get("/", params={"tag": "business"}).text.count('class="story') == 1
        assert c.get("/", params={"feed": "nope"}).status_code == 404


def test_story_page_has_text_matches_versions_and_the_diff(desk: Desk) -> None:
    aid = desk.edit_story()
    with client(desk) as c:
        r = c.get(f"/items/{aid}")
        assert r.status_code == 200
        assert "Why it matched" in r.text and "export-controls" in r.text
        assert 'name="a" value="1"' in r.text and 'name="b" value="2"' in r.text
        assert "substantial" in r.text  # the kind of version 2
        ins = re.findall(r"<ins>(.*?)</ins>", c.get(f"/items/{aid}?a=1&b=2").text, re.S)
        assert any("Le Congrès examine désormais" in x for x in ins)
        assert c.get(f"/items/{aid}?a=2&b=1").text.count("<ins>") >= 1  # either order
        assert c.get("/items/999999").status_code == 404
        changes = c.get("/changes").text
        assert f"/items/{aid}?a=1&amp;b=2" in changes and "paragraph added" in changes


def test_sources_show_the_failing_feed_and_its_error(desk: Desk) -> None:
    with client(desk) as c:
        r = c.get("/feeds")
    row = re.search(r'<tr class="feed health-(\w+)" id="feed-broken-wire">(.*?)</tr>', r.text, re.S)
    assert row and row.group(1) == "failing"
    assert "500" in row.group(2)
    assert re.search(r'id="feed-eulerpool">.*?<svg class="spark"', r.text, re.S)


def test_triage_needs_csrf_and_is_kept(desk: Desk) -> None:
    aid = desk.story_id()
    with client(desk) as c:
        token = csrf_of(c.get("/").text)
        refused = c.post("/triage", data={"id": str(aid), "action": "star"})
        assert refused.status_code == 403
        wrong = c.post("/triage", data={"id": str(aid), "action": "star", "csrf": "x" + token})
        assert wrong.status_code == 403
        assert desk.agg.triage("local", [aid])[aid].starred is False
        ok = c.post(
            "/triage",
            data={"id": str(aid), "action": "star", "csrf": token, "next": "/?state=starred"},
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/?state=starred"
        assert desk.agg.triage("local", [aid])[aid].starred is True
        assert f"/items/{aid}" in c.get("/?state=starred").text
        js = c.post(
            "/triage",
            data={"id": str(aid), "action": "read", "csrf": token},
            headers={"Accept": "application/json"},
        )
        assert js.json() == {str(aid): {"read": True, "starred": True}}
        assert f"/items/{aid}" not in c.get("/?state=unread").text
        assert (
            c.post(
                "/triage",
                data={
                    "id": str(aid),
                    "action": "read",
                    "csrf": token,
                    "next": "https://evil.example/",
                },
            ).headers["location"]
            == "/"
        )
        cross = c.post(
            "/triage",
            data={"id": str(aid), "action": "unread", "csrf": token},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        mark = c.post("/mark-all-read", data={"csrf": token, "topic": "export-controls"})
        assert mark.status_code == 303
    other = httpx.post(desk.url + "/alerts/retry", data={"all": "dead"})
    assert other.status_code == 403  # a new visitor without the form's token


def test_hostile_title_and_link_render_as_text(tmp_path: Path, http_server: LoopbackServer) -> None:
    from aggregator.cli.seedsite import load_seed, rss_feed

    d = make_desk(tmp_path, http_server, poll=False)
    try:
        seed = load_seed()
        hostile = "<script>alert('pwned')</script> Nvidia : contrôles à l'exportation de puces"
        body = rss_feed(
            seed,
            feed_url=http_server.url("/evil.xml"),
            article_url=http_server.url("/x"),
            extra_items=[(hostile, "javascript:alert(1)", hostile)],
        )
        http_server.route("/feed.xml", body, content_type="application/rss+xml")
        d.agg.poll(["eulerpool"])
        with client(d) as c:
            for path in ("/", *(f"/items/{a.id}" for a in d.agg.articles())):
                r = c.get(path)
                assert "<script>alert" not in r.text, path
                assert re.findall(r"<script(?![^>]*\bsrc=)", r.text) == [], path
                assert 'href="javascript:' not in r.text, path
                assert r.headers["content-security-policy"] == CSP
                assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
            assert "&lt;script&gt;alert(" in c.get("/").text
    finally:
        d.web.close()
        d.agg.close()


def test_atom_feeds_parse_link_to_story_pages_and_honour_validators(desk: Desk) -> None:
    aid = desk.edit_story()
    desk.deliver()
    with client(desk) as c:
        topic_page = c.get("/topics/export-controls").text
        alerts_page, changes_page = c.get("/alerts").text, c.get("/changes").text
        for page, path in (
            (topic_page, "/feeds/topics/export-controls.atom"),
            (alerts_page, "/feeds/alerts.atom"),
            (changes_page, "/feeds/changes.atom"),
        ):
            m = re.search(re.escape(path) + r"\?token=([\w-]+)", page)
            assert m, f"{path} link not on its page"
            assert c.get(path).status_code == 404
            token = m.group(1)
            tampered = token[:-1] + ("y" if token.endswith("x") else "x")  # always another
            assert tampered != token
            assert c.get(path, params={"token": tampered}).status_code == 404
            r = c.get(path, params={"token": token})
            assert r.status_code == 200 and r.headers["content-type"].startswith(
                "application/atom+xml"
            )
            parsed = feedparser.parse(r.content)
            assert not parsed.bozo, parsed.get("bozo_exception")
            assert parsed.version == "atom10" and parsed.entries
            assert any(e.link.startswith(f"{desk.url}/items/{aid}") for e in parsed.entries)
            again = feedparser.parse(c.get(path, params={"token": m.group(1)}).content)
            assert [e.id for e in again.entries] == [e.id for e in parsed.entries]
            assert all(e.id.startswith("urn:uuid:") for e in parsed.entries)
            etag, modified = r.headers["etag"], r.headers["last-modified"]
            assert (
                c.get(
                    path, params={"token": m.group(1)}, headers={"If-None-Match": etag}
                ).status_code
                == 304
            )
            assert (
                c.get(
                    path, params={"token": m.group(1)}, headers={"If-Modified-Since": modified}
                ).status_code
                == 304
            )
            assert (
                c.get(
                    path, params={"token": m.group(1)}, headers={"If-None-Match": '"other"'}
                ).status_code
                == 200
            )
        changes = feedparser.parse(
            c.get(
                "/feeds/changes.atom",
                params={
                    "token": re.search(r"changes\.atom\?token=([\w-]+)", changes_page).group(1)
                },
            ).content
        )  # type: ignore[union-attr]
        assert "words" in changes.entries[0].summary and "1 \u2192 2" in changes.entries[0].summary


def test_alerts_page_and_retry(desk: Desk) -> None:
    desk.receiver.script(*([503] * 60))
    for _ in range(20):
        desk.deliver()
        desk.clock.now += __import__("datetime").timedelta(hours=3)
    dead = desk.agg.alerts(status="dead")
    assert dead, "the alert should be dead after the retry window"
    with client(desk) as c:
        page = c.get("/alerts?status=dead").text
        assert f'id="alert-{dead[0].id}"' in page and "503" in page
        token = csrf_of(page)
        r = c.post("/alerts/retry", data={"id": str(dead[0].id), "csrf": token})
        assert r.status_code == 303 and "retried=1&sent=0" in r.headers["location"]
        assert c.post("/alerts/retry", data={"id": "999999", "csrf": token}).status_code == 404
    # the receiver still answers 503: requeued, tried once more now, retried later
    again = next(a for a in desk.agg.alerts() if a.id == dead[0].id)
    assert again.status == "failed" and again.attempts == dead[0].attempts + 1


def test_search_explains_matches_and_syntax_errors(desk: Desk) -> None:
    with client(desk) as c:
        r = c.get("/search", params={"q": "Nvidia AND puce*"})
        assert r.status_code == 200 and "<mark>" in r.text and f"/items/{desk.story_id()}" in r.text
        bad = c.get("/search", params={"q": "Nvidia AND ("})
        assert bad.status_code == 200 and 'class="problem"' in bad.text and "column" in bad.text


def test_login_when_users_are_set(
    tmp_path: Path, http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_PASSWORD", "correct horse battery")
    d = make_desk(
        tmp_path, http_server, web={"users": [{"name": "desk", "password": "${DESK_PASSWORD}"}]}
    )
    try:
        with client(d) as c:
            wall = c.get("/items/1")
            assert (
                wall.status_code == 303 and wall.headers["location"] == "/login?next=%2Fitems%2F1"
            )
            assert c.post("/triage", data={"id": "1", "action": "read"}).status_code == 401
            token = csrf_of(c.get("/login").text)
            no_csrf = c.post("/login", data={"name": "desk", "password": "correct horse battery"})
            assert no_csrf.status_code == 403
            wrong = c.post("/login", data={"name": "desk", "password": "wrong", "csrf": token})
            assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
            assert c.get("/").status_code == 303
            ok = c.post(
                "/login",
                data={
                    "name": "desk",
                    "password": "correct horse battery",
                    "csrf": token,
                    "next": "/feeds",
                },
            )
            assert ok.status_code == 303 and ok.headers["location"] == "/feeds"
            assert (
                "HttpOnly" in ok.headers["set-cookie"]
                and "SameSite=Lax" in ok.headers["set-cookie"]
            )
            assert c.get("/feeds").status_code == 200
            assert c.get("/healthz").status_code == 200
            logout = c.post("/logout", data={"csrf": csrf_of(c.get("/").text)})
            assert logout.status_code == 303
            assert c.get("/").status_code == 303
        forged = httpx.get(d.url + "/", cookies={"desk_session": "eyJ1IjoiZGVzayJ9.AAAA"})
        assert forged.status_code == 303
    finally:
        d.web.close()
        d.agg.close()


def test_beyond_loopback_without_users_is_refused() -> None:
    from aggregator.config.models import WebConfig

    for listen in ("0.0.0.0:8788", "[::]:8788", "192.0.2.10:80", "desk.example.org:8788"):
        with pytest.raises(ConfigError) as e:
            check_exposure(WebConfig(listen=listen))
        assert "web.users" in str(e.value) and e.value.hint and "reverse proxy" in e.value.hint
    for listen in ("127.0.0.1:8788", "[::1]:1", "localhost:8788", "127.0.0.2:9"):
        check_exposure(WebConfig(listen=listen))
    check_exposure(WebConfig(listen="0.0.0.0:8788", users=[{"name": "a", "password": "b"}]))


def test_sessions_survive_a_restart_and_a_second_server(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    from aggregator.web.serve import WebServer

    d = make_desk(tmp_path, http_server, web={"users": [{"name": "desk", "password": "pw"}]})
    try:
        with client(d) as c:
            token = csrf_of(c.get("/login").text)
            c.post("/login", data={"name": "desk", "password": "pw", "csrf": token})
            cookie = c.cookies["desk_session"]
        with WebServer(d.agg, "127.0.0.1", 0) as second:
            r = httpx.get(second.url + "/feeds", cookies={"desk_session": cookie})
            assert r.status_code == 200
    finally:
        d.web.close()
        d.agg.close()


def test_alerts_link_to_the_story_page_when_base_url_is_set(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    from tests.support.smtp import SmtpServer

    with SmtpServer() as smtp:
        email = {
            "name": "desk-email",
            "kind": "email",
            "to": ["desk@example.org"],
            "from": "aggregator@example.org",
            "group_window": "0s",
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"},
        }
        d = make_desk(
            tmp_path, http_server, web={"base_url": "https://desk.example.org/"}, channels=[email]
        )
        try:
            aid = d.story_id()
            assert d.deliver().sent == 2
            article = d.receiver.payloads()[0]["data"]["article"]
            assert article["desk_url"] == f"https://desk.example.org/items/{aid}"
            msg = smtp.messages[0].message()
            text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
            assert f"On the desk: https://desk.example.org/items/{aid}" in text
            assert f'href="https://desk.example.org/items/{aid}"' in html
            with client(d) as c:  # the same path on the desk is the story
                assert d.seed.title in c.get(f"/items/{aid}").text.replace("&#39;", "'")
        finally:
            d.web.close()
            d.agg.close()


def test_behind_a_proxy_under_a_path(tmp_path: Path, http_server: LoopbackServer) -> None:
    """web.base_url with a path: the proxy strips it, the desk's links keep it."""
    d = make_desk(tmp_path, http_server, web={"base_url": "https://news.example.org/desk"})
    try:
        aid = d.story_id()
        with client(d) as c:
            r = c.get(f"/items/{aid}", headers={"X-Forwarded-Proto": "https"})
            assert r.status_code == 200
            assert 'href="/desk/static/desk.css"' in r.text and 'action="/desk/search"' in r.text
            assert "Secure" in r.headers["set-cookie"]
            assert c.get("/static/desk.css").status_code == 200
            wall = c.post("/triage", data={"id": str(aid), "action": "read"})
            assert wall.status_code == 403  # no CSRF token
            atom = re.search(
                r'href="(https://news\.example\.org/desk/feeds/topics/[^"]+)"',
                c.get("/topics/export-controls").text,
            )
            assert atom, "the Atom link uses web.base_url"
    finally:
        d.web.close()
        d.agg.close()
