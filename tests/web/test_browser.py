"""The desk in a real browser: Debian's Chromium driven by Playwright.

Skips without Chromium on a user's machine; on CI (CI=true) a missing browser fails.
Set AGGREGATOR_SCREENSHOTS=docs/screenshots to refresh the README's screenshots
(scripts/desk_screenshots.sh does it); a failing test leaves a screenshot in
$AGGREGATOR_TEST_ARTIFACTS (default /tmp/aggregator-test-artifacts).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.httpserver import LoopbackServer, Response
from tests.web.conftest import Desk, make_desk

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def shot(page: Any, name: str) -> None:
    """Keep a screenshot for the README when asked to."""
    folder = os.environ.get("AGGREGATOR_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)


def no_console_errors(page: Any) -> None:
    """A CSP violation (inline script or style) shows up as a console error."""
    assert page.console_errors == []


def test_topic_stream_shows_the_french_seed_story_highlighted_and_opens_it(
    desk: Desk, page: Any
) -> None:
    page.goto(desk.url + "/topics/export-controls")
    row = page.locator("li.story", has_text=desk.seed.title)
    assert row.count() == 1
    marks = row.locator("p.snippet mark").all_text_contents()
    assert marks and any(re.search(r"contrôles? à l.exportation|export", m, re.I) for m in marks)
    assert row.locator(".lang").text_content() == "fr"
    assert "eulerpool" in row.locator(".sources").text_content()
    shot(page, "stream")
    row.locator("h2 a").click()
    page.wait_for_url(re.compile(r"/items/\d+$"))
    assert page.locator("h1").text_content() == desk.seed.title
    assert page.locator("section.matches mark").count() > 0
    assert desk.seed.paragraphs[0][:60] in page.locator("section.text").text_content()
    no_console_errors(page)


def test_pick_two_versions_and_see_the_inserted_paragraph(desk: Desk, page: Any) -> None:
    aid = desk.edit_story()
    page.goto(f"{desk.url}/items/{aid}")
    page.check('input[name="b"][value="2"]')
    page.check('input[name="a"][value="1"]')
    page.click("form.pick button[type=submit]")
    page.wait_for_url(re.compile(r"a=1&b=2"))
    inserted = page.locator("table.sbs ins", has_text="Le Congrès examine désormais")
    assert inserted.count() == 1 and inserted.is_visible()
    assert page.locator("section.versions .kind").nth(1).text_content() == "substantial"
    shot(page, "story-diff")
    no_console_errors(page)


def test_sources_show_a_failing_feeds_error(desk: Desk, page: Any) -> None:
    page.goto(desk.url + "/")
    page.click("header nav >> text=Sources")
    row = page.locator("#feed-broken-wire")
    assert row.locator(".health").text_content() == "failing"
    assert "500" in row.locator("td.error").text_content()
    assert page.locator("#feed-eulerpool svg.spark").count() == 1
    shot(page, "sources")
    no_console_errors(page)


def test_retry_a_dead_alert_and_see_it_delivered(desk: Desk, page: Any) -> None:
    desk.receiver.script(*([503] * 100))
    for _ in range(20):
        desk.deliver()
        desk.clock.now += timedelta(hours=3)
    dead = desk.agg.alerts(status="dead")
    assert len(dead) == 1
    before = len(desk.receiver.received)
    desk.site.handle("/hook", lambda req: Response(200, b"ok"))  # the receiver is back
    page.goto(desk.url + "/alerts?status=dead")
    row = page.locator(f"#alert-{dead[0].id}")
    assert row.locator(".status").text_content() == "dead"
    assert "503" in row.locator("td.error").text_content()
    shot(page, "alerts")
    row.locator("button.retry").click()  # requeued and delivered now, as the CLI does
    page.wait_for_url(re.compile(r"retried=1"))
    assert "1 alert queued again; 1 delivered now" in page.locator("p.flash").text_content()
    assert page.locator(f"#alert-{dead[0].id} .status").text_content() == "sent"
    delivered = desk.receiver.payloads()[before:]
    assert len(delivered) == 1 and delivered[0]["data"]["article"]["title"] == desk.seed.title
    no_console_errors(page)


def test_triage_buttons_work_in_place(desk: Desk, page: Any) -> None:
    from playwright.sync_api import expect

    aid = desk.story_id()
    page.goto(desk.url + "/")
    row = page.locator(f'li.story[data-id="{aid}"]')
    row.locator("button.star").click()
    expect(row).to_have_class(re.compile(r"\bstarred\b"))  # no string eval: CSP forbids it
    assert row.locator("button.star").text_content().strip() == "\u2605 Starred"
    assert page.url == desk.url + "/"  # no reload: the script did it
    assert desk.agg.triage("local", [aid])[aid].starred
    row.locator("button.read-toggle").click()
    expect(row).to_have_class(re.compile(r"\bread\b"))
    page.goto(desk.url + "/?state=unread")
    assert page.locator(f'li.story[data-id="{aid}"]').count() == 0
    page.goto(desk.url + "/?state=starred")
    assert page.locator(f'li.story[data-id="{aid}"]').count() == 1
    no_console_errors(page)


def test_changes_and_search_pages(desk: Desk, page: Any) -> None:
    desk.edit_story()
    page.goto(desk.url + "/changes")
    assert page.locator("table.changes .kind").first.text_content() == "substantial"
    shot(page, "changes")
    page.fill("header input[name=q]", "Nvidia AND (puce* OR chip*)")
    page.press("header input[name=q]", "Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    assert page.locator("li.story", has_text=desk.seed.title).count() == 1
    assert page.locator("li.story mark").count() > 0
    shot(page, "search")
    no_console_errors(page)


def test_login_with_a_password_and_refused_without(
    tmp_path: Path,
    http_server: LoopbackServer,
    browser: Any,
    page: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DESK_PASSWORD", "s3cret-desk")
    d = make_desk(
        tmp_path, http_server, web={"users": [{"name": "desk", "password": "${DESK_PASSWORD}"}]}
    )
    try:
        aid = d.story_id()
        page.goto(f"{d.url}/items/{aid}")
        page.wait_for_url(re.compile(r"/login\?next="))
        shot(page, "login")
        page.fill("input[name=name]", "desk")
        page.fill("input[name=password]", "wrong")
        page.click("form button[type=submit]")
        assert "Wrong name or password" in page.locator("p.problem").text_content()
        assert page.locator("h1").text_content() == "Log in to the desk"
        page.fill("input[name=password]", "s3cret-desk")
        page.click("form button[type=submit]")
        page.wait_for_url(re.compile(rf"/items/{aid}$"))
        assert page.locator("h1").text_content() == d.seed.title
        assert page.locator("header .who").text_content() == "desk"
        other = browser.new_context()  # another browser, never logged in
        try:
            stranger = other.new_page()
            stranger.goto(f"{d.url}/items/{aid}")
            assert "/login" in stranger.url
            assert d.seed.title not in stranger.content()
        finally:
            other.close()
        # the wrong password's 401 is the only error the console saw
        assert [e for e in page.console_errors if "401" not in e] == []
    finally:
        d.web.close()
        d.agg.close()
