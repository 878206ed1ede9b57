"""The one HTTP core shared by the sync and async clients.

An :class:`Operation` is a pure description of one API call: a :class:`RequestSpec`
(method, path, query, body, headers, timeout) plus a ``decode`` function turning a
successful :class:`httpx.Response` into a typed result, and optionally an ``on_error``
hook that may turn an API error into a result (``kill`` answering ``False`` on 404).
A request body may be an iterator of chunks (an upload, sent as it is read), and
``receive`` hands a successful answer's body to a sink chunk by chunk as it arrives (a
download, never held whole); a body that breaks off raises, it is never decoded as if
it were complete.

Everything that does not touch the network — building the :class:`httpx.Request`,
mapping errors, decoding — is written once here as plain functions.
:class:`SyncTransport` and :class:`AsyncTransport` only *send*, over a pluggable
``httpx`` transport (``httpx.MockTransport`` in tests).
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from ._config import ClientConfig, resolve_config
from ._version import __version__
from .errors import NullspaceError, ServerError, TimeoutError, error_for

__all__ = [
    "AsyncTransport",
    "Operation",
    "RequestSpec",
    "SyncTransport",
    "build_request",
    "finish",
    "map_body_error",
    "map_transport_error",
]

T = TypeVar("T")
U = TypeVar("U")

USER_AGENT = f"nullspace-sdk-python/{__version__}"

CHUNK_BYTES = 1 << 20
"""Size of the chunks a streamed body is sent and received in (1 MiB)."""

Content = bytes | Iterable[bytes] | AsyncIterable[bytes]
"""A request body: bytes, or chunks produced as they are sent (an async iterable for
the async client)."""


@dataclass(frozen=True)
class RequestSpec:
    """What to send, independent of any client."""

    method: str
    path: str
    params: Sequence[tuple[str, str]] = ()
    json: Any = None
    content: Content | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    """Total timeout of this request in seconds; ``None`` uses the client default."""
    no_timeout: bool = False
    """Wait indefinitely (a command run with ``timeout=0``)."""


@dataclass(frozen=True)
class Operation(Generic[T]):
    """One API call: a request and how to read its answer."""

    request: RequestSpec
    decode: Callable[[httpx.Response], T]
    on_error: Callable[[NullspaceError], T] | None = None

    def map(self, fn: Callable[[T], U]) -> Operation[U]:
        """The same call with ``fn`` applied to its result (recovered errors too)."""
        decode, recover = self.decode, self.on_error

        def mapped_decode(response: httpx.Response) -> U:
            return fn(decode(response))

        if recover is None:
            return Operation(self.request, mapped_decode)

        def mapped_recover(err: NullspaceError) -> U:
            return fn(recover(err))

        return Operation(self.request, mapped_decode, mapped_recover)


def build_request(config: ClientConfig, spec: RequestSpec) -> httpx.Request:
    """Turn a :class:`RequestSpec` into an :class:`httpx.Request` (pure)."""
    headers = {
        "Authorization": f"Bearer {config.api_key}",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    headers.update(spec.headers)
    content: Content | None = spec.content
    if spec.json is not None:
        content = json.dumps(spec.json, separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    elif content is not None:
        headers.setdefault("Content-Type", "application/octet-stream")
    if spec.no_timeout:
        timeout = httpx.Timeout(None, connect=config.request_timeout)
    else:
        total = spec.timeout if spec.timeout is not None else config.request_timeout
        timeout = httpx.Timeout(total)
    return httpx.Request(
        spec.method,
        config.api_url + spec.path,
        params=list(spec.params),
        headers=headers,
        content=content,
        extensions={"timeout": timeout.as_dict()},
    )


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds: delta-seconds or an HTTP date (from ``now``);
    ``None`` when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def error_from_response(response: httpx.Response) -> NullspaceError:
    """Map a non-2xx response to the matching exception (code first, status second),
    with the partial command output and ``Retry-After`` the answer carries."""
    status = response.status_code
    code: str | None = None
    message = ""
    output: dict[str, Any] | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        if isinstance(err.get("code"), str):
            code = err["code"]
        if isinstance(err.get("message"), str):
            message = err["message"]
        if isinstance(err.get("output"), dict):
            output = err["output"]
    if not message:
        text = response.text.strip()
        message = text[:500] if text else f"HTTP {status} {response.reason_phrase}".strip()
    return error_for(
        code,
        message,
        status,
        output=output,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def finish(op: Operation[T], response: httpx.Response) -> T:
    """Decode a complete response, or raise / recover its error."""
    if response.status_code >= 400:
        err = error_from_response(response)
        if op.on_error is not None:
            return op.on_error(err)
        raise err
    return op.decode(response)


def map_transport_error(exc: httpx.HTTPError, config: ClientConfig) -> NullspaceError:
    """Map an exception raised while sending (no response) to an SDK error."""
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(
            "request_timeout",
            f"request to the Nullspace API at {config.api_url} timed out: {exc}".rstrip(": "),
        )
    return ServerError(
        "connection_error",
        f"could not reach the Nullspace API at {config.api_url}: {exc}".rstrip(": "),
    )


def map_body_error(exc: httpx.HTTPError, config: ClientConfig, received: int) -> NullspaceError:
    """Map an exception raised while the body of a successful answer was arriving: the
    download was cut short after ``received`` bytes (as they came off the connection)."""
    what = f"download cut short after {received} bytes from the Nullspace API at {config.api_url}"
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError("request_timeout", f"{what}: timed out: {exc}".rstrip(": "))
    return ServerError("connection_error", f"{what}: {exc}".rstrip(": "))


class _Borrowed(httpx.BaseTransport):
    """A caller's sync transport that the SDK must not close."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)


class _AsyncBorrowed(httpx.AsyncBaseTransport):
    """A caller's async transport that the SDK must not close."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)


def open_config(
    api_key: str | None,
    api_url: str | None,
    base_url: str | None,
    request_timeout: float | None,
) -> ClientConfig:
    return resolve_config(
        api_key=api_key, api_url=api_url, base_url=base_url, request_timeout=request_timeout
    )


class SyncTransport:
    """Sends operations with an :class:`httpx.Client`."""

    def __init__(self, config: ClientConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._transport = transport
        self._client = httpx.Client(
            transport=_Borrowed(transport) if transport is not None else None,
            follow_redirects=False,
        )

    def send(self, op: Operation[T]) -> T:
        request = build_request(self.config, op.request)
        try:
            response = self._client.send(request)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, self.config) from exc
        return finish(op, response)

    def receive(self, op: Operation[T], sink: Callable[[bytes], object]) -> T:
        """Send ``op`` and pass the body of a successful answer to ``sink``, in chunks
        of at most :data:`CHUNK_BYTES` as they arrive; then decode the answer (its
        headers: the body is gone). An error answer raises as with :meth:`send`."""
        request = build_request(self.config, op.request)
        try:
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, self.config) from exc
        try:
            if response.status_code >= 400:
                try:
                    response.read()
                except httpx.HTTPError as exc:
                    raise map_transport_error(exc, self.config) from exc
                return finish(op, response)
            try:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    sink(chunk)
            except httpx.HTTPError as exc:
                raise map_body_error(exc, self.config, response.num_bytes_downloaded) from exc
            return op.decode(response)
        finally:
            response.close()

    @property
    def inner(self) -> httpx.BaseTransport | None:
        """The caller's ``httpx`` transport, if one was given."""
        return self._transport

    def clone(self) -> SyncTransport:
        """A new transport with the same settings (for a new owner)."""
        return SyncTransport(self.config, self._transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SyncTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTransport:
    """Sends operations with an :class:`httpx.AsyncClient`."""

    def __init__(
        self, config: ClientConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self._transport = transport
        self._client = httpx.AsyncClient(
            transport=_AsyncBorrowed(transport) if transport is not None else None,
            follow_redirects=False,
        )

    async def send(self, op: Operation[T]) -> T:
        request = build_request(self.config, op.request)
        try:
            response = await self._client.send(request)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, self.config) from exc
        return finish(op, response)

    async def receive(self, op: Operation[T], sink: Callable[[bytes], Awaitable[object]]) -> T:
        """:meth:`SyncTransport.receive`, awaiting ``sink`` for each chunk."""
        request = build_request(self.config, op.request)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, self.config) from exc
        try:
            if response.status_code >= 400:
                try:
                    await response.aread()
                except httpx.HTTPError as exc:
                    raise map_transport_error(exc, self.config) from exc
                return finish(op, response)
            try:
                async for chunk in response.aiter_bytes(CHUNK_BYTES):
                    await sink(chunk)
            except httpx.HTTPError as exc:
                raise map_body_error(exc, self.config, response.num_bytes_downloaded) from exc
            return op.decode(response)
        finally:
            await response.aclose()

    @property
    def inner(self) -> httpx.AsyncBaseTransport | None:
        """The caller's ``httpx`` transport, if one was given."""
        return self._transport

    def clone(self) -> AsyncTransport:
        return AsyncTransport(self.config, self._transport)

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
