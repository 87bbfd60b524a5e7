"""Benchmarks for the aggregator: ``python -m benchmarks`` writes BENCHMARKS.md.

Setup (once per machine)::

    apt-get install -y nginx-light newsboat wrk   # optional but recommended
    .venv/bin/pip install -r benchmarks/requirements.txt

Modules: ``farm`` (feed farm on 127.0.0.1), ``farmcheck`` (the farm alone),
``clients`` (ours, reader, newsboat driven through the same phases),
``feeds`` (scenarios 1-3), ``storage`` (6), ``memory`` (7), ``profiling``,
``report`` (BENCHMARKS.md). Scenarios 4 and 5 live in ``bench_extract`` and
``bench_topics`` (their ``run() -> str`` is called when present).

Real material is read from ``../shared/corpora`` at run time when it exists
(never copied into the repository); without it a synthetic fallback is used.
"""
