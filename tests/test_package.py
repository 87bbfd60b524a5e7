"""The package's lazy top-level names: `__all__` (spelled out for static analysis) and
the lazy-import table agree, and every name resolves."""

import aggregator


def test_all_matches_lazy_exports() -> None:
    assert aggregator.__all__ == sorted(aggregator._EXPORTS)


def test_every_exported_name_resolves() -> None:
    for name in aggregator.__all__:
        assert getattr(aggregator, name).__name__ == name
