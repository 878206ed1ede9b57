"""Preview URLs: the typed answers of the preview routes and the redaction of their
tokens (``spec/previews.md``).

A preview token (``nspv1.{grant}.{scope}.{expires}.{signature}``) is a credential: the
models keep it as the server sent it (``preview.token``, ``preview.url``), but their
``repr`` and ``str`` show it through :func:`redact_preview_url`, so a log line or a
traceback never holds one. Like every response model they ignore fields they do not
know, and enumerated fields are plain ``str`` so values added by a newer server still
parse.

From Python, whose resolver does not map ``*.localhost`` names to loopback, use
:attr:`PreviewUrl.path_url` (the same port under ``{server}/preview/{id}/{port}/``):
it works everywhere the API does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, unquote_plus

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PREVIEW_TOKEN_PARAM",
    "PreviewGrantError",
    "PreviewGrantInfo",
    "PreviewHostInfo",
    "PreviewProxyTarget",
    "PreviewReadiness",
    "PreviewTransport",
    "PreviewUrl",
    "RevokePreviewGrantResponse",
    "redact_preview_text",
    "redact_preview_token",
    "redact_preview_url",
]

TOKEN_PREFIX = "nspv1."
"""How every preview token (URL and proxy) begins."""

PREVIEW_TOKEN_PARAM = "nullspace_preview_token"
"""The query parameter a signed preview URL carries its token in."""

REDACTED = "***"

PreviewTransport = Literal["http", "websocket"]
"""What a grant lets through: plain HTTP requests, or WebSocket upgrades."""


def redact_preview_token(token: str) -> str:
    """Return ``token`` with its signature (after the last ``.``) replaced by ``***``.

    Only ``nspv1.`` tokens change; any other string is returned as it is. The result
    still names the grant, scope and end (``nspv1.pvg_1.url.1764000000.***``)."""
    if not token.startswith(TOKEN_PREFIX):
        return token
    return token[: token.rindex(".") + 1] + REDACTED


_TOKEN_IN_TEXT = re.compile(r"nspv1\.[A-Za-z0-9_.=-]*")


def _redact_run(match: re.Match[str]) -> str:
    run = match.group(0)
    body = run.rstrip(".")  # a full stop after a token is not its last separator
    return redact_preview_token(body) + run[len(body) :]


def redact_preview_text(text: str) -> str:
    """Return ``text`` (a message, say) with every ``nspv1.`` token in it redacted,
    also one shortened with ``...`` as pydantic shortens long inputs."""
    return _TOKEN_IN_TEXT.sub(_redact_run, text)


def _redact_param(raw: str) -> str:
    """A ``nullspace_preview_token`` query value, redacted: an ``nspv1.`` token keeps
    its prefix; anything else in that place is a credential too and becomes ``***``."""
    value = unquote_plus(raw)
    if not value.startswith(TOKEN_PREFIX):
        return REDACTED if value else raw
    return quote(redact_preview_token(value), safe="._-~*")


def redact_preview_url(url: str) -> str:
    """Return ``url`` with the signature of its ``nullspace_preview_token`` redacted.

    Every other part of the URL is kept byte for byte; a URL without that parameter,
    or any other string, is returned unchanged. A bare ``nspv1.`` token is redacted as
    :func:`redact_preview_token` does."""
    if url.startswith(TOKEN_PREFIX):
        return redact_preview_token(url)
    before_fragment, hash_sign, fragment = url.partition("#")
    head, question, query = before_fragment.partition("?")
    if not question or PREVIEW_TOKEN_PARAM not in unquote_plus(query):
        return url
    pairs = query.split("&")
    for i, pair in enumerate(pairs):
        key, equals, value = pair.partition("=")
        if equals and unquote_plus(key) == PREVIEW_TOKEN_PARAM:
            pairs[i] = f"{key}={_redact_param(value)}"
    return f"{head}?{'&'.join(pairs)}{hash_sign}{fragment}"


def _redacted(value: Any) -> Any:
    """``value`` as ``repr`` may show it: strings through :func:`redact_preview_url`,
    inside lists and dicts too (nested models redact themselves)."""
    if isinstance(value, str):
        return redact_preview_url(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redacted(v) for v in value)
    return value


class _PreviewModel(BaseModel):
    """A response model whose ``repr`` and ``str`` never show a token."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, _redacted(value)


class PreviewGrantError(_PreviewModel):
    """The last failure of a request a grant let through."""

    code: str
    """An API error code, e.g. ``preview_upstream_unavailable``."""
    message: str
    at: datetime


class PreviewGrantInfo(_PreviewModel):
    """A preview grant as the inventory shows it: never its token, only a hint."""

    grant_id: str
    machine_id: str
    port: int
    kind: str
    """``url`` (a signed preview URL) or ``proxy`` (a proxy target's header tokens)."""
    transports: list[str] = Field(default_factory=list)
    """Of ``http`` and ``websocket``: what the grant lets through."""
    token_hint: str
    """The token with its signature redacted (``nspv1.pvg_….url.1764….***``)."""
    state: str
    """``active``, ``expired`` or ``revoked``."""
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    disabled_at: datetime | None = None
    """When the grant stopped working (revoked or expired); ``None`` while active."""
    request_count: int = 0
    """Requests it let through."""
    websocket_count: int = 0
    """WebSocket upgrades among :attr:`request_count`."""
    denied_count: int = 0
    """Requests refused with it (another port, for example)."""
    last_used_at: datetime | None = None
    last_error: PreviewGrantError | None = None

    @property
    def is_active(self) -> bool:
        """Whether the grant still lets requests through."""
        return self.state == "active"


class PreviewUrl(_PreviewModel):
    """The addresses of one machine port (``GET`` or ``POST …/previews``).

    :attr:`url` is the host form (``http://8080-sb_….localhost:7878/``),
    :attr:`path_url` the path form (``http://localhost:7878/preview/sb_…/8080/``),
    which Python's resolver can reach. A signed answer (``token`` set) carries the
    token in all three URLs."""

    machine_id: str
    port: int
    host: str
    """The preview host, ``{port}-{machine_id}.{base host}[:{base port}]``: send it as
    ``Host`` when connecting to the server's own address."""
    url: str
    websocket_url: str
    path_url: str
    auth_mode: str
    """``public`` (anyone may pass) or ``token`` (only with a credential)."""
    token_transport: str
    """``none`` or ``query`` (the token is the URLs' ``nullspace_preview_token``)."""
    token: str | None = None
    """The raw preview token of a signed answer; ``None`` without a grant."""
    expires_at: datetime | None = None
    grant: PreviewGrantInfo | None = None

    @property
    def is_signed(self) -> bool:
        """Whether the URLs carry a token."""
        return self.token is not None


class PreviewHostInfo(_PreviewModel):
    """A freshly signed preview address of a port (``machine.get_host_info``)."""

    machine_id: str
    port: int
    host: str
    url: str
    """The signed HTTP URL."""
    websocket_url: str
    """The signed WebSocket URL."""
    path_url: str
    """The signed path-form URL (reachable from Python without DNS set-up)."""
    expires_at: datetime
    grant_id: str


class PreviewReadiness(_PreviewModel):
    """Whether a port can be previewed now (``GET …/previews/{port}/readiness``)."""

    machine_id: str
    port: int
    route_ready: bool
    """The machine runs, or is paused with auto-resume (the first request wakes it)."""
    service_ready: bool
    """An HTTP ``GET /`` through the machine's network got an answer (any status)."""
    status: int | None = None
    """That answer's HTTP status."""
    error: str | None = None
    """Why the service is not ready, when it is not."""

    def describe(self) -> str:
        """One line with every field, for messages."""
        return (
            f"route_ready={self.route_ready}, service_ready={self.service_ready}, "
            f"status={self.status}, error={self.error!r}"
        )


class PreviewProxyTarget(_PreviewModel):
    """An upstream for a customer-run proxy (``POST …/preview-proxy-targets``).

    The URLs hold no secret; the proxy sends ``headers[transport]`` (the header
    :attr:`header_name` with that transport's token) with what it forwards. A proxy
    token is refused in a URL or a cookie."""

    machine_id: str
    port: int
    grant_id: str
    transports: list[str] = Field(default_factory=list)
    http_url: str
    websocket_url: str
    header_name: str
    """``x-nullspace-preview-proxy-token``."""
    headers: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per transport (``http``, ``websocket``), the headers to send."""
    forwarded_headers: list[str] = Field(default_factory=list)
    """Headers the proxy should set (``x-forwarded-for``, ``-host``, ``-proto``)."""
    traffic_token_header: str
    """Where a machine's private traffic token goes, for machines without public
    traffic."""
    expires_at: datetime


class RevokePreviewGrantResponse(_PreviewModel):
    """The answer of a revocation (the same for a grant already revoked)."""

    grant_id: str
    revoked: bool
    revoked_at: datetime
