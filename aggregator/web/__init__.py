"""The desk in a browser (issue 15) and the reader API (issue 16): a Starlette app over
the facade. Topic streams, stories with versions and diffs, sources, alerts, search,
triage, and Atom feeds of all of it (Starlette + Jinja2 on uvicorn).

``create_app(agg)`` builds the ASGI app; ``aggregator web`` serves it alone and
``aggregator run`` beside the daemon (``aggregator.web.serve``).
"""

from aggregator.web.app import create_app
from aggregator.web.context import WebContext

__all__ = ["WebContext", "create_app"]
