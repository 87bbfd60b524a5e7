"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests, able to answer from a script.

``server.script("451 4.3.0 try later", "250 OK")`` makes the next DATA commands
get those answers in turn (then 250 again); ``server.refuse(addr)`` turns a
recipient down at RCPT. Only accepted messages land in ``server.messages``;
``server.attempts`` counts every DATA the client got to. STARTTLS, implicit
TLS and AUTH LOGIN/PLAIN are available with a throwaway self-signed
certificate made by the ``openssl`` command.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

ACCEPT = "250 2.0.0 OK queued"


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope as the server saw it, and the raw bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    def message(self) -> EmailMessage:
        """Parsed the way a mail client would (policy.default decodes headers)."""
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed certificate for 127.0.0.1/localhost and the contexts built on it."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """What the code under test should trust: exactly this certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_certificate(directory: Path) -> TlsFiles | None:
    """A throwaway certificate via the openssl CLI; None when openssl is not installed."""
    if shutil.which("openssl") is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return TlsFiles(cert, key)


def free_port() -> int:
    """A port nothing listens on right now (aiosmtpd's Controller needs one up front)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, smtp: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self.server.refusals.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        return self.server._answer(envelope)


class SmtpServer:
    """aiosmtpd in its own thread on 127.0.0.1; use as a context manager or call stop()."""

    def __init__(
        self,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        self.messages: list[Received] = []
        self.refusals: dict[str, str] = {}
        self.attempts = 0
        self.logins: list[str] = []
        self._replies: deque[str] = deque()
        self._users = users
        self._lock = threading.Lock()
        self.port = free_port()
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port}
        if starttls is not None:
            kwargs |= {"tls_context": starttls, "require_starttls": True}
        if implicit_tls is not None:
            kwargs["ssl_context"] = implicit_tls
        if users is not None:
            kwargs |= {"authenticator": self._authenticate, "auth_required": True}
        self.controller = Controller(_Handler(self), **kwargs)
        self.controller.start()

    host = "127.0.0.1"

    def script(self, *replies: str) -> None:
        """Answer the next DATA commands with these replies, in order (then accept)."""
        with self._lock:
            self._replies.extend(replies)

    def refuse(self, address: str, reply: str = "550 5.1.1 no such user") -> None:
        self.refusals[address] = reply

    def _answer(self, envelope: Any) -> str:
        with self._lock:
            self.attempts += 1
            reply = self._replies.popleft() if self._replies else ACCEPT
            if reply.startswith("2"):
                self.messages.append(
                    Received(
                        envelope.mail_from,
                        tuple(envelope.rcpt_tos),
                        bytes(envelope.original_content),
                    )
                )
        return reply

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self._users is None:
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self._users.get(user) == password
        if ok:
            self.logins.append(user)
        return AuthResult(success=ok, handled=False)

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
