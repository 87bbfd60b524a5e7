"""The long-running daemon behind `aggregator run`.

Modules: runner (lifecycle, signals, grace), cycle (one pass over what is
due), health (source-health rules → outbox), httpd (/healthz /readyz
/metrics), metrics (Prometheus), reload (feeds.yaml live reload), lock (one
daemon per SQLite file), logs (text/JSON), worker (worker ids). The
APScheduler wiring is ``aggregator.daemon.scheduler``.
"""
