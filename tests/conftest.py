"""Shared fixtures: a loopback HTTP server, temp databases, PostgreSQL on CI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
