"""The SSRF guard and the no-proxy rule, applied to what Apprise sends.

Apprise is a library of a hundred plugins, each building its own request, so
the guard cannot vet a URL before handing it over: an Apprise URL's host part is
sometimes the target (``json://host/``, ``ntfy://host/``), sometimes a token
(``slack://T0/B0/XX``) for a fixed public API. What every HTTP-speaking plugin
has in common is ``requests`` over urllib3, so the guard sits where urllib3
opens a socket: while one of our Apprise sends runs (a context variable, which
Apprise copies into its worker threads), each connection's host is resolved
once, every address vetted by :func:`aggregator.http.guard.check_host_allowed`
against ``network.allow_private``, and the socket opened to a vetted address
(no second lookup for a rebinding DNS server to answer differently). That holds
for redirects too: each hop is a new connection. Proxy variables from the
environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``) are ignored during
those sends, as the fetcher ignores them: a proxy would make the vetted address
the proxy's, not the target's. Outside our sends nothing changes.

Plugins that speak something else (SMTP for ``mailto://``, MQTT, XMPP, IRC,
syslog, AMQP ...) open their own sockets where the guard cannot see; their
schemes are refused unless a channel lists them in ``unguarded_schemes``
(:func:`goes_through_requests` tells the two kinds apart).
"""

from __future__ import annotations

import inspect
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aggregator.exceptions import BlockedURLError
from aggregator.http.guard import check_host_allowed


@dataclass
class SendGuard:
    """The policy of one Apprise send, and the refusals it made (for the error message)."""

    allow_private: tuple[str, ...] = ()
    refused: list[BlockedURLError] = field(default_factory=list)


_ACTIVE: ContextVar[SendGuard | None] = ContextVar("aggregator_apprise_guard", default=None)
_INSTALLED = False
_INSTALL_LOCK = threading.Lock()


@contextmanager
def guarded(guard: SendGuard) -> Iterator[SendGuard]:
    """Every connection Apprise opens inside this block goes through `guard`."""
    install()
    token = _ACTIVE.set(guard)
    try:
        yield guard
    finally:
        _ACTIVE.reset(token)


def install() -> None:
    """Hook urllib3's connect and requests' proxy lookup, once per process; inert outside
    `guarded`."""
    global _INSTALLED  # noqa: PLW0603 - one process-wide hook, installed once
    with _INSTALL_LOCK:
        if _INSTALLED:
            return
        import requests.sessions
        import urllib3.util.connection

        original_connect = urllib3.util.connection.create_connection
        original_merge = requests.sessions.Session.merge_environment_settings

        def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
            guard = _ACTIVE.get()
            if guard is None:
                return original_connect(address, *args, **kwargs)
            return _vetted_connect(guard, address, original_connect, args, kwargs)

        def merge_environment_settings(self: Any, url: Any, proxies: Any, *rest: Any) -> Any:
            settings = original_merge(self, url, proxies, *rest)
            if _ACTIVE.get() is not None:
                settings["proxies"] = {}  # no proxy is configured: never one from the env
            return settings

        urllib3.util.connection.create_connection = create_connection
        setattr(requests.sessions.Session, "merge_environment_settings", merge_environment_settings)  # noqa: B010
        _INSTALLED = True


def _vetted_connect(
    guard: SendGuard,
    address: tuple[str, int],
    connect: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Resolve once, vet every address, connect to the vetted ones only."""
    host, port = address
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    try:
        ips = check_host_allowed(host, [str(info[4][0]) for info in infos], guard.allow_private)
    except BlockedURLError as e:
        guard.refused.append(e)
        raise
    last: OSError | None = None
    for ip in dict.fromkeys(ips):
        try:
            return connect((str(ip), port), *args, **kwargs)
        except OSError as e:
            last = e
    raise last or OSError(f"no address for {host}")


#: Names a plugin's module imports when it opens its own sockets instead of using requests.
_OWN_SOCKETS = ("smtplib", "socket", "paho", "slixmpp", "gntp", "ssl", "subprocess", "dbus")


def goes_through_requests(plugin: object) -> bool:
    """Whether an Apprise plugin's sending code uses requests (and so the guard) only.

    Judged on the module that defines the send method the plugin actually has
    (a subclass may inherit it, as Guilded inherits Discord's), so a plugin added
    in a later Apprise version is judged the same way.
    """
    import requests

    send = getattr(type(plugin), "send", None)
    module = inspect.getmodule(send) if send is not None else None
    if module is None:
        return False
    names = vars(module)
    if names.get("requests") is not requests:
        return False
    return not any(name in names for name in _OWN_SOCKETS)
