"""Google Reader–compatible API (FeedHQ/FreshRSS subset) for reader apps.

The web application mounts ``routes(ctx)`` at ``/api/greader``; see
docs/reader-api.md for what each call does and which clients were tried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Route

from aggregator.web.greader import reading, writing
from aggregator.web.greader.api import ReaderApi

if TYPE_CHECKING:
    from aggregator.web.context import WebContext


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The API's routes, relative to its mount point."""
    api = ReaderApi(ctx)
    a = api.authed
    get, post, both = ["GET"], ["POST"], ["GET", "POST"]
    z = "/reader/api/0"
    return [
        Route("/accounts/ClientLogin", api.client_login, methods=both),
        Route(f"{z}/token", a(ReaderApi.token), methods=both),
        Route(f"{z}/user-info", a(ReaderApi.user_info), methods=get),
        Route(f"{z}/subscription/list", a(reading.subscription_list), methods=get),
        Route(f"{z}/subscription/edit", a(writing.subscription_edit), methods=post),
        Route(f"{z}/subscription/quickadd", a(writing.quickadd), methods=post),
        Route(f"{z}/tag/list", a(reading.tag_list), methods=get),
        Route(f"{z}/unread-count", a(reading.unread_count), methods=get),
        Route(f"{z}/stream/contents", a(reading.stream_contents), methods=both),
        Route(f"{z}/stream/contents/{{stream:path}}", a(reading.stream_contents), methods=both),
        Route(f"{z}/stream/items/ids", a(reading.items_ids), methods=both),
        Route(f"{z}/stream/items/contents", a(reading.items_contents), methods=both),
        Route(f"{z}/edit-tag", a(writing.edit_tag), methods=post),
        Route(f"{z}/mark-all-as-read", a(writing.mark_all_as_read), methods=post),
        Route(f"{z}/preference/list", a(reading.preferences), methods=get),
        Route(f"{z}/preference/stream/list", a(reading.stream_preferences), methods=get),
        Route("/reader/atom", a(reading.atom_stream), methods=get),
        Route("/reader/atom/{stream:path}", a(reading.atom_stream), methods=get),
    ]


__all__ = ["routes"]
