"""Shared fixtures: a loopback HTTP server, temp databases, PostgreSQL on CI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.aggregators import AggFactory, aggregators
from tests.support.httpserver import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent
SEED_TEXT = (ROOT / "seeds" / "000_243af86b07dee341.txt").read_text(encoding="utf-8")


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def make_agg() -> Iterator[AggFactory]:
    """`make_agg(config, clock=..., extract_workers=...)`: an Aggregator closed at teardown."""
    yield from aggregators()


@pytest.fixture
def seed_text() -> str:
    return SEED_TEXT


def postgres_url() -> str | None:
    """URL of this machine's PostgreSQL if reachable; on CI its absence fails."""
    url = os.environ.get("AGGREGATOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return url
    except Exception as e:  # noqa: BLE001 - any failure means "not available"
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL required on CI but unreachable: {e}")
        return None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, or a throwaway schema on this machine's PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    yield from _pg_schema(base)


def _pg_schema(base: str) -> Iterator[str]:
    import uuid

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = base.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
