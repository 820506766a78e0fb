"""The providers' HTTP client: httpx's interface over aiohttp's connection pool.

The senders speak httpx (requests, responses, ``httpx.TransportError`` and its kinds,
``MockTransport`` in tests); this transport sends through aiohttp instead of httpcore. A
provider POST then cost about 0.5 ms of CPU instead of 1.0-1.5 ms (httpcore's pool looks
over every pooled connection, and each of them again, on every request; issue 21).

aiohttp's errors become the httpx errors that mean the same for a send: nothing reached
the provider (``ConnectError``, ``ConnectTimeout``: a retry is safe), or the request may
have been received (``ReadTimeout``, ``ReadError``, ``RemoteProtocolError``: the send
worker asks the provider before repeating it). ``httpx-aiohttp`` does this too, but maps
a server that hung up after the request (``ServerDisconnectedError``) to a connect
timeout, which would repeat a message the provider may have taken.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx

KEEPALIVE_S = 5.0  # as httpx: an idle provider connection is closed after this long

# Most specific first: the first class the error is an instance of decides.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    # Connecting, or waiting for a free connection of the pool, took too long.
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # DNS, refused, TLS handshake
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # not an HTTP answer
    (aiohttp.ClientError, httpx.ReadError),  # the request may have gone out
)


@contextmanager
def _as_httpx(request: httpx.Request) -> Iterator[None]:
    """Raise aiohttp's errors as the httpx error of the same meaning."""
    try:
        yield
    except aiohttp.ClientError as exc:
        kind = next(kind for cls, kind in _ERRORS if isinstance(exc, cls))
        raise kind(f"{type(exc).__name__}: {exc}", request=request) from exc


class _Body(httpx.AsyncByteStream):
    """An aiohttp response's body, read as httpx reads it (streamed, then released)."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self.response = response
        self.request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx(self.request):
            async for chunk in self.response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self.response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests through one aiohttp session of up to ``max_connections``."""

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the running event loop.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.max_connections,
                                             keepalive_timeout=KEEPALIVE_S)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False,  # httpx decodes
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"))
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        with _as_httpx(request):
            response = await self._client().request(
                request.method, str(request.url), headers=request.headers.multi_items(),
                data=await request.aread() or None, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=None, connect=timeout.get("pool"),
                                              sock_connect=timeout.get("connect"),
                                              sock_read=timeout.get("read")))
        return httpx.Response(response.status, headers=response.raw_headers,
                              stream=_Body(response, request),
                              extensions={"http_version": b"HTTP/1.1",
                                          "reason_phrase": (response.reason or "").encode()})

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
