"""Extraction of the seed page, language detection, and the process pool's limits."""

from __future__ import annotations

import asyncio
import calendar
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from aggregator.cli.seedsite import COOKIE_TEXT, FOOTER_TEXT, article_page, load_seed, rss_feed
from aggregator.exceptions import ExtractError, ParseError
from aggregator.extract.article import Extracted, extract_article
from aggregator.extract.extractor import ExtractPool
from aggregator.extract.language import detect_language

URL = "https://news.example.com/politique/trump-nvidia-huang"
SEED = load_seed()
PAGE = article_page(SEED, URL).encode()

ENGLISH = (
    "The central bank left interest rates unchanged on Thursday, saying that inflation "
    "was still too high and that the labour market remained tight despite the slowdown."
)
GERMAN = (
    "Die Bundesregierung hat am Mittwoch neue Regeln für die Ausfuhr von Halbleitern "
    "beschlossen, nachdem mehrere Unternehmen vor wachsenden Risiken gewarnt hatten."
)

# -- functions the pool runs in its workers (module level, so they pickle) ---------

HANG = b"<!-- test: hang -->"
SLOW_ONCE = b"<!-- test: slow the first time -->"


def _note_pid(path: str) -> bool:
    """Log this worker's pid in `path`; True if it is the first entry."""
    first = not os.path.exists(path)
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    return first


def hang_or_extract(html: bytes, url: str) -> Extracted:
    """Hangs on HANG pages; SLOW_ONCE pages take 5 s on their first attempt only.

    For both, `url` names a file that logs the pids of the workers that ran it.
    """
    if HANG in html:
        _note_pid(url)
        time.sleep(600)
    if SLOW_ONCE in html and _note_pid(url):
        time.sleep(5)
    return extract_article(html, URL)


def sleepy_extract(html: bytes, url: str) -> Extracted:
    """Half a second of "work", then the real extraction; logs "pid start end" in `url`."""
    started = time.time()
    time.sleep(0.5)
    with open(url, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {started} {time.time()}\n")
    return extract_article(html, URL)


CALLS: list[str] = []


def recording_extract(html: bytes, url: str) -> Extracted:
    CALLS.append(url)
    return extract_article(html, url)


def _pids(path: Path) -> list[int]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [int(line.split()[0]) for line in lines]


def _overlapping(path: Path) -> bool:
    """True if two logged runs in different workers were under way at the same moment."""
    fields = [line.split() for line in path.read_text().splitlines()]
    runs = [(int(pid), float(start), float(end)) for pid, start, end in fields]
    return any(p != q and a < d and c < b for p, a, b in runs for q, c, d in runs)


def _gone(pid: int, within: float = 5.0) -> bool:
    """True once `pid` has exited (a zombie awaiting its reaper counts as exited)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except (FileNotFoundError, IndexError):
            return True
        if state in "ZX":
            return True
        time.sleep(0.05)
    return False


# -- the seed ------------------------------------------------------------------


def test_load_seed_splits_the_layout(seed_text: str) -> None:
    seed = load_seed(seed_text)
    assert seed == SEED
    assert seed.section == "Politics"
    assert seed.title.startswith("Trump rencontre le PDG de Nvidia, Huang")
    assert seed.standfirst.startswith("La rencontre de Trump avec le PDG de Nvidia")
    assert seed.source == "Eulerpool News"
    assert seed.published == datetime(2025, 2, 3, 11, 36, tzinfo=UTC)  # 12:36 in Paris
    assert len(seed.paragraphs) == 7
    assert seed.paragraphs[0].startswith("Le patron de Nvidia, Jensen Huang")
    assert seed.paragraphs[-1].endswith("des contrôles d'exportation ».")
    assert seed.promo == (
        "Professional-grade financial intelligence",
        "20M+ securities. Real-time data. Institutional insights.",
        "Trusted by professionals at Goldman Sachs, BlackRock, and JPMorgan",
        "Nouvelles",
    )


def test_load_seed_rejects_text_without_dateline() -> None:
    with pytest.raises(ParseError, match="source line"):
        load_seed("Politics\n\nTitle\n\nStandfirst\n\nno date here\n\nBody paragraph.")


def test_rss_feed_carries_the_seed_item() -> None:
    xml = rss_feed(
        SEED,
        feed_url="https://news.example.com/rss.xml",
        article_url=URL,
        extra_items=[("Autre titre", "https://news.example.com/autre", "Résumé")],
    )
    parsed = feedparser.parse(xml.encode())
    assert not parsed.bozo
    first, second = parsed.entries
    assert (first.title, first.link, first.id) == (SEED.title, URL, URL)
    assert first.summary == SEED.standfirst
    published = datetime.fromtimestamp(calendar.timegm(first.published_parsed), UTC)
    assert published == SEED.published
    assert (second.title, second.link, second.summary) == (
        "Autre titre",
        "https://news.example.com/autre",
        "Résumé",
    )


# -- extraction of the seed page ----------------------------------------------


@pytest.fixture(scope="module")
def extracted() -> Extracted:
    return extract_article(PAGE, URL)


def test_extraction_keeps_every_body_paragraph(extracted: Extracted) -> None:
    for paragraph in SEED.paragraphs:
        assert paragraph[:60] in extracted.text
    assert extracted.text.split("\n\n")[0] == SEED.paragraphs[0]


@pytest.mark.parametrize(
    "boilerplate",
    [
        "Marchés",
        "Se connecter",
        COOKIE_TEXT[:40],
        "Tout accepter",
        FOOTER_TEXT[:30],
        "Mentions légales",
        "À lire aussi",
        "Le CAC 40 termine en baisse",
        *SEED.promo[:3],
    ],
)
def test_extraction_drops_site_furniture(extracted: Extracted, boilerplate: str) -> None:
    assert boilerplate not in extracted.text


def test_extraction_metadata(extracted: Extracted) -> None:
    assert extracted.title == SEED.title
    assert extracted.language == "fr"
    assert extracted.published == datetime(2025, 2, 3, 11, 36, tzinfo=UTC)
    assert extracted.canonical_url == URL
    assert extracted.description == SEED.standfirst
    assert extracted.sitename == "Eulerpool News"
    assert extracted.extractor_version.startswith("trafilatura-")


def test_canonical_url_is_made_absolute_and_never_guessed() -> None:
    relative = PAGE.replace(
        f'<link rel="canonical" href="{URL}">'.encode(),
        b'<link rel="canonical" href="/a/canonique">',
    )
    assert extract_article(relative, URL).canonical_url == "https://news.example.com/a/canonique"
    bare = relative.replace(b'<link rel="canonical" href="/a/canonique">', b"")
    bare = bare.replace(f'<meta property="og:url" content="{URL}">'.encode(), b"")
    assert extract_article(bare, URL).canonical_url is None


def test_edited_page_yields_the_edit() -> None:
    edited = list(SEED.paragraphs)
    edited[2] = "Paragraphe entièrement réécrit par la rédaction après publication. " * 3
    page = article_page(SEED, URL, paragraphs=edited, title="Titre corrigé de l'article")
    result = extract_article(page, URL)
    assert result.title == "Titre corrigé de l'article"
    assert "entièrement réécrit" in result.text
    assert SEED.paragraphs[2][:60] not in result.text


def test_extra_footer_is_not_article_text() -> None:
    page = article_page(SEED, URL, extra_footer="<p>Mis à jour le 4 févr. 2025 à 09:12</p>")
    assert "Mis à jour le 4 févr." in page
    assert "Mis à jour le 4 févr." not in extract_article(page, URL).text


@pytest.mark.parametrize(
    "html",
    [
        b"",
        b"\x00\x01\x02\xff\xfe garbage",
        "<html><body><p>Trop court.</p></body></html>",
        b"<html><head><title>Just a moment...</title></head><body><div id=cf></div></body></html>",
    ],
)
def test_pages_without_article_raise(html: bytes | str) -> None:
    with pytest.raises(ExtractError):
        extract_article(html, URL)


# -- language -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ENGLISH, "en"),
        (GERMAN, "de"),
        (SEED.paragraphs[1], "fr"),
        ("Nvidia", None),
        ("", None),
        ("12 345 678 — 2025", None),
    ],
)
def test_detect_language(text: str, expected: str | None) -> None:
    assert detect_language(text) == expected


SPEC_SHEET = (
    "2025-01-14 | 10:32 | Nvidia H100, H800, A100, A800 — AMD MI300X; ASML NXE:3600D; "
    "TSMC N3E; SMIC N+2; Huawei Ascend 910B/910C — 12 345 678 $ — 2025 "
)


def test_an_unsure_first_look_reads_further() -> None:
    """Product names open the text: the first 150 characters alone are a weak guess
    (below LANG_SURE), and the sentence after them decides."""
    from aggregator.extract.language import LANG_SAMPLE_CHARS, LANG_SURE, _guess

    assert _guess(SPEC_SHEET[:LANG_SAMPLE_CHARS])[1] < LANG_SURE
    assert detect_language(SPEC_SHEET + SEED.paragraphs[1]) == "fr"
    numbers = "12 345 678 — 2025 — 14:32 — 99 % — 1 024 — 3,14 — " * 3
    assert _guess(numbers[:LANG_SAMPLE_CHARS]) == (None, 0.0)
    assert detect_language(numbers + GERMAN) == "de"


# -- the pool -------------------------------------------------------------------


async def test_inline_pool_extracts_without_workers() -> None:
    async with ExtractPool(workers=0) as pool:
        result = await pool.extract(PAGE, URL)
    assert result.title == SEED.title


async def test_oversize_page_is_rejected_before_the_work() -> None:
    CALLS.clear()
    async with ExtractPool(workers=0, max_bytes=1000, func=recording_extract) as pool:
        with pytest.raises(ExtractError, match="over the 1000-byte extraction limit"):
            await pool.extract(PAGE, URL)
        small = f"<html><body><article><p>{SEED.paragraphs[0]}</p></article></body></html>"
        assert len(small.encode()) < 1000
        await pool.extract(small.encode(), "https://news.example.com/ok")
    assert CALLS == ["https://news.example.com/ok"]


async def test_closed_pool_refuses_pages() -> None:
    pool = ExtractPool(workers=1)
    pool.close()
    with pytest.raises(ExtractError, match="closed"):
        await pool.extract(PAGE, URL)


@pytest.mark.slow
async def test_start_brings_the_workers_up_before_any_page(tmp_path: Path) -> None:
    """What the daemon does at start-up: its first poll then finds warm workers."""
    log = tmp_path / "pids"
    async with ExtractPool(workers=2, func=sleepy_extract) as pool:
        assert pool.worker_pids() == []
        await pool.start()
        started = sorted(pool.worker_pids())
        assert len(started) == 2 and all(Path(f"/proc/{pid}").exists() for pid in started)
        await asyncio.gather(*(pool.extract(PAGE, str(log)) for _ in range(2)))
        done_by = _pids(log)
        assert len(done_by) == 2 and set(done_by) <= set(started)  # no new process
    async with ExtractPool(workers=0) as inline:
        await inline.start()  # nothing to start
        assert inline.worker_pids() == []


@pytest.mark.slow
async def test_two_workers_extract_concurrently(tmp_path: Path) -> None:
    log = tmp_path / "pids"
    async with ExtractPool(workers=2, func=sleepy_extract) as pool:
        results = await asyncio.gather(*(pool.extract(PAGE, str(log)) for _ in range(4)))
    assert all(r.title == SEED.title for r in results)
    assert len(set(_pids(log))) == 2
    assert _overlapping(log)


@pytest.mark.slow
@pytest.mark.slow
async def test_timeout_kills_the_stuck_worker_and_spares_the_others(tmp_path: Path) -> None:
    hang_log, slow_log = tmp_path / "hang", tmp_path / "slow"
    async with ExtractPool(workers=2, timeout=1.0, func=hang_or_extract) as pool:
        await pool.extract(PAGE, URL)  # warm up
        stuck = asyncio.create_task(pool.extract(PAGE + HANG, str(hang_log)))
        await asyncio.sleep(0.5)
        innocent = asyncio.create_task(pool.extract(PAGE + SLOW_ONCE, str(slow_log)))
        with pytest.raises(ExtractError, match=r"extraction timed out after 1s"):
            await stuck
        assert (await innocent).title == SEED.title
        after = await pool.extract(PAGE, URL)
        assert after.text.startswith(SEED.paragraphs[0])
        with pytest.raises(ExtractError, match="characters of text"):  # raised in the worker
            await pool.extract(b"<html><body><p>Court.</p></body></html>", URL)
        assert pool.restarts == 1
    (hung_pid,) = _pids(hang_log)
    assert _gone(hung_pid), "the hung worker is still running"
    first_try, retry = _pids(slow_log)  # in flight at the kill, then resubmitted once
    assert first_try != retry


@pytest.mark.slow
@pytest.mark.slow
async def test_pages_queued_behind_stuck_workers_are_not_blamed(tmp_path: Path) -> None:
    """Two jobs per worker are in flight; the queued ones outlive the stuck ones' kill."""
    async with ExtractPool(workers=2, timeout=1.0, func=hang_or_extract) as pool:
        await pool.extract(PAGE, URL)  # warm up
        stuck = [
            asyncio.create_task(pool.extract(PAGE + HANG, str(tmp_path / f"h{i}")))
            for i in range(2)
        ]
        await asyncio.sleep(0)  # the stuck pages are submitted first and take both workers
        queued = [asyncio.create_task(pool.extract(PAGE, URL)) for _ in range(2)]
        for task in stuck:
            with pytest.raises(ExtractError, match="timed out"):
                await task
        assert [(await q).title for q in queued] == [SEED.title, SEED.title]
        assert pool.restarts >= 1


@pytest.mark.slow
async def test_close_kills_a_stuck_worker_and_fails_its_page(tmp_path: Path) -> None:
    hang_log = tmp_path / "hang"
    pool = ExtractPool(workers=1, timeout=60.0, func=hang_or_extract)
    await pool.extract(PAGE, URL)
    stuck = asyncio.create_task(pool.extract(PAGE + HANG, str(hang_log)))
    while not hang_log.exists():
        await asyncio.sleep(0.05)
    started = time.monotonic()
    await asyncio.to_thread(pool.close, 0.2)
    assert time.monotonic() - started < 5
    with pytest.raises(ExtractError, match="closed"):
        await stuck
    (hung_pid,) = _pids(hang_log)
    assert _gone(hung_pid)


_OWNER_SCRIPT = """
import asyncio, sys, time
from aggregator.extract.extractor import ExtractPool

async def main():
    pool = ExtractPool(workers=2)
    await pool.extract(sys.argv[1].encode(), "https://news.example.com/a")
    print(" ".join(map(str, pool.worker_pids())), flush=True)
    time.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


@pytest.mark.slow
def test_workers_exit_when_their_owner_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves no cleanup to run; the workers notice the owner is gone."""
    import signal
    import subprocess
    import sys

    script = tmp_path / "owner.py"
    script.write_text(_OWNER_SCRIPT)
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, str(script), PAGE.decode()],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(not _gone(p, within=0.1) for p in pids)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert all(_gone(p, within=10) for p in pids), "workers outlived their owner"
    finally:
        proc.kill()
