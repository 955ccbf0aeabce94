"""The GET lane: keep-alive HTTP/1.1 GETs on asyncio protocols, with no client library in between.

A bulk read (sync, plan, generate at fleet scale) is thousands of small GETs, and on the client what each
one costs is mostly the HTTP library's work around it. A script reading 10,000 guests' /pending through a
5 ms delay line spent 3.5 s of CPU on aiohttp's ClientSession and 1.7 s on a protocol that writes the request
line and reads Content-Length (the same answers); in pmpc's client a GET costs 0.14 ms of CPU on the lane
against 0.21 ms straight on aiohttp's session (benchmarks/client.py). Writes, logins, and everything the lane
does not speak stay on httpx over aiohttp.

What it speaks: a GET with no body, to the origin of the client's base URL, through no proxy (pmpc's aiohttp
session trusts no proxy settings either), TLS with the session's context or a pinned SHA-256 fingerprint.
Answers: 1xx skipped, a body by Content-Length, chunked, or up to the close; gzip or deflate decoded
(`Accept-Encoding: gzip` is sent, as aiohttp sends it: PVE compresses large answers, such as a big
cluster's /cluster/resources); `Connection: close` and HTTP/1.0 honoured. A reused connection the server
closed while it was idle is retried once on a new one (a GET, and no byte of its answer came). Anything
else it cannot read raises `Unsupported` before an answer is returned, and the client sends that request
through aiohttp instead, and every later one too.

Its failures are httpx's, as those of the aiohttp path are (`error_from_exception` and the client's retries
read them): ConnectError (with the OSError, the certificate error, or aiohttp's ServerFingerprintMismatch
as its cause), ConnectTimeout, ReadTimeout, ReadError, RemoteProtocolError.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
import time
import typing
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

# Bytes a request target may hold as it is written on the wire (callers quote paths and encode queries).
_TARGET = re.compile(r"[!#$%&'()*+,\-./0-9:;=?@A-Z_a-z~]+")
_HEADER_VALUE = re.compile(r"[^\r\n\x00]*")
_CRLF = b"\r\n"
_END = b"\r\n\r\n"
# The content codings the lane undoes (`_decoded`).
_CODINGS = frozenset({b"", b"identity", b"gzip", b"x-gzip", b"deflate"})


class Unsupported(Exception):
    """The lane cannot send this request, or read its answer (`answered`): send it another way."""

    def __init__(self, message: str, *, answered: bool = True) -> None:
        super().__init__(message)
        self.answered = answered


class _Answer:
    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request at a time, its answer parsed as the bytes arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[_Answer] | None = None
        self.closed = False
        self.reusable = True
        self.received = False  # a byte of the current answer has come
        self.idle_since = 0.0
        # The answer being read: its head, then its body's framing.
        self._head: tuple[int, str, list[tuple[bytes, bytes]]] | None = None
        self._length: int | None = None  # bytes of body still expected (Content-Length)
        self._chunked = False
        self._chunks: list[bytes] = []
        self._to_close = False  # body up to the close

    # ----------------------------------------------------------- asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Another event loop's transports (uvloop's) are not asyncio.Transport subclasses: no isinstance check.
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.reusable = False  # bytes nobody asked for: this connection is not to be trusted again
            self._close()
            return
        self.received = True
        self.buffer += data
        try:
            answer = self._parse()
        except (ValueError, IndexError, Unsupported, zlib.error) as exc:
            self._close()
            self._fail(_unreadable(exc))
            return
        if answer is not None:
            if not self.reusable:
                self._close()
            self.idle_since = time.monotonic()
            self.waiter.set_result(answer)

    def eof_received(self) -> bool:
        if self._to_close and self._head is not None and self.waiter is not None and not self.waiter.done():
            status, reason, headers = self._head
            self._head, self._to_close = None, False
            try:
                body = _decoded(headers, bytes(self.buffer))
            except (zlib.error, Unsupported) as exc:
                self._fail(_unreadable(exc))
                return False
            self.buffer.clear()
            self.reusable = False
            self.waiter.set_result(_Answer(status, reason, headers, body))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            what = "the server closed the connection before its answer was whole"
            error = httpx.RemoteProtocolError(what) if exc is None else httpx.ReadError(str(exc) or what)
            error.__cause__ = exc
            self.waiter.set_exception(error)

    # ----------------------------------------------------------- requests

    def send(self, request: bytes) -> asyncio.Future[_Answer]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.received = False
        self.transport.write(request)
        return self.waiter

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _close(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # ----------------------------------------------------------- parsing

    def _parse(self) -> _Answer | None:
        """Return the answer once it is whole (None: more bytes are needed)."""
        while self._head is None:
            end = self.buffer.find(_END)
            if end < 0:
                if len(self.buffer) > 65536:
                    raise Unsupported("an answer's head is over 64 KiB")
                return None
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            status, reason, headers = _head(head)
            if 100 <= status < 200:
                continue  # an interim answer: the real one follows
            self._start_body(status, reason, headers, head.startswith(b"HTTP/1.0"))
        if self._chunked:
            return self._parse_chunks()
        if self._to_close:
            return None  # the body ends when the connection does (eof_received)
        assert self._length is not None
        if len(self.buffer) < self._length:
            return None
        body = bytes(self.buffer[: self._length])
        del self.buffer[: self._length]
        return self._finish(body)

    def _start_body(self, status: int, reason: str, headers: list[tuple[bytes, bytes]], http10: bool) -> None:
        self._head = (status, reason, headers)
        length: int | None = None
        chunked = False
        connection = b"close" if http10 else b""
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length = int(value)
                if length < 0:
                    raise Unsupported("a negative Content-Length")
            elif lowered == b"transfer-encoding":
                codings = [c.strip() for c in value.lower().split(b",")]
                if codings != [b"chunked"]:
                    raise Unsupported(f"Transfer-Encoding {value.decode('latin-1')!r}")
                chunked = True
            elif lowered == b"connection":
                connection = value.strip().lower()
            elif lowered == b"content-encoding" and value.strip().lower() not in _CODINGS:
                raise Unsupported(f"Content-Encoding {value.decode('latin-1')!r}")
        if connection == b"close" or (http10 and connection != b"keep-alive"):
            self.reusable = False
        self._chunked = chunked
        if status in (204, 304):
            self._length = 0
        elif chunked:
            self._length = None
        elif length is not None:
            self._length = length
        else:
            self._to_close = True
            self.reusable = False

    def _parse_chunks(self) -> _Answer | None:
        while True:
            end = self.buffer.find(_CRLF)
            if end < 0:
                return None
            size = int(bytes(self.buffer[:end]).split(b";", 1)[0], 16)
            if size == 0:
                trailer_end = self.buffer.find(_CRLF, end + 2)
                # No trailers: the size line's CRLF is followed by one more; else up to an empty line.
                if trailer_end == end + 2:
                    del self.buffer[: end + 4]
                else:
                    blank = self.buffer.find(_END, end)
                    if blank < 0:
                        return None
                    del self.buffer[: blank + 4]
                body = b"".join(self._chunks)
                self._chunks.clear()
                return self._finish(body)
            if len(self.buffer) < end + 2 + size + 2:
                return None
            self._chunks.append(bytes(self.buffer[end + 2 : end + 2 + size]))
            del self.buffer[: end + 2 + size + 2]

    def _finish(self, body: bytes) -> _Answer:
        assert self._head is not None
        status, reason, headers = self._head
        self._head, self._length, self._chunked = None, None, False
        if self.buffer:
            self.reusable = False  # more than the answer came: the stream is out of step
        return _Answer(status, reason, headers, _decoded(headers, body))


def _unreadable(exc: Exception) -> Unsupported:
    return exc if isinstance(exc, Unsupported) else Unsupported(f"unreadable answer ({exc})")


def _head(head: bytes) -> tuple[int, str, list[tuple[bytes, bytes]]]:
    """Return the status, reason and headers of an answer's head (status line and header lines)."""
    lines = head.split(_CRLF)
    version, _, rest = lines[0].partition(b" ")
    if not version.startswith(b"HTTP/1."):
        raise Unsupported(f"not an HTTP/1.x answer: {lines[0][:40]!r}")
    code, _, reason = rest.partition(b" ")
    if len(code) != 3 or not code.isdigit():
        raise Unsupported(f"an unreadable status line: {lines[0][:40]!r}")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise Unsupported(f"an unreadable header line: {line[:40]!r}")
        headers.append((name, value.strip()))
    return int(code), reason.decode("latin-1"), headers


def _decoded(headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """Return the body with its Content-Encoding (gzip or deflate) undone."""
    for name, value in headers:
        if name.lower() == b"content-encoding":
            coding = value.strip().lower()
            if coding in (b"gzip", b"x-gzip"):
                return zlib.decompress(body, 16 + zlib.MAX_WBITS)
            if coding == b"deflate":
                try:
                    return zlib.decompress(body)
                except zlib.error:
                    return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send it
    return body


class Lane:
    """Keep-alive connections to one origin, for GETs; idle ones are reused (newest first) until `keepalive`."""

    def __init__(
        self,
        base_url: str,
        tls: ssl.SSLContext | None,
        *,
        pin: bytes | None = None,
        keepalive: float | None = 5.0,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Unsupported(f"a base URL the lane cannot reach: {base_url}")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._host, self._port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        self._authority = parts.netloc.rpartition("@")[2].encode("ascii")
        self._tls = tls if parts.scheme == "https" else None
        self._pin = pin
        self._keepalive = keepalive
        timeout = timeout or httpx.Timeout(30.0)
        self._connect_timeout, self._read_timeout = timeout.connect, timeout.read
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._block: tuple[Any, bytes] = (None, b"")

    async def get(self, url: str, headers: Any) -> _Answer:
        """GET `url` (on this lane's origin); return the answer.

        Raises:
            Unsupported: nothing was sent, or an answer came the lane cannot read: send it another way.
            httpx.HTTPError: as the aiohttp path raises them.
        """
        request = self._request(url, headers)
        while True:
            connection, reused = self._take(), True
            if connection is None:
                connection, reused = await self._connect(), False
            try:
                answer = await self._exchange(connection, request)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                if reused and not connection.received:
                    continue  # the server closed it while it was idle: once more, on a new connection
                raise
            if connection.reusable and not connection.closed:
                self._idle.append(connection)
            else:
                self._drop(connection)
            return answer

    async def aclose(self) -> None:
        """Close every connection (idle or not), without waiting for the server's side of it."""
        for connection in list(self._open):
            if connection.transport is not None:
                connection.transport.abort()
        self._idle.clear()
        self._open.clear()

    # ----------------------------------------------------------- internals

    def _request(self, url: str, headers: Any) -> bytes:
        if not url.startswith(self.origin):
            raise Unsupported(f"another origin than {self.origin}", answered=False)
        target = url[len(self.origin) :]
        if not target.startswith("/") or _TARGET.fullmatch(target) is None:
            raise Unsupported("a request target with characters the lane does not send as they are", answered=False)
        made_for, block = self._block
        if made_for is not headers:
            block = self._header_block(headers)
            self._block = (headers, block)
        return b"GET " + target.encode("ascii") + b" HTTP/1.1\r\nHost: " + self._authority + _CRLF + block

    @staticmethod
    def _header_block(headers: Any) -> bytes:
        items = headers.items() if hasattr(headers, "items") else headers
        lines = []
        for name, value in items:
            name, value = str(name), str(value)
            if name.lower() in ("host", "content-length", "transfer-encoding", "connection", "accept-encoding"):
                continue
            if not name.isascii() or not name.isprintable() or ":" in name or " " in name:
                raise Unsupported(f"a header name the lane does not send: {name!r}", answered=False)
            if _HEADER_VALUE.fullmatch(value) is None:
                raise Unsupported(f"a value of header {name} the lane does not send", answered=False)
            lines.append(f"{name}: {value}\r\n".encode("latin-1", errors="strict"))
        lines.append(b"Accept-Encoding: gzip, deflate\r\n\r\n")
        return b"".join(lines)

    def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            stale = self._keepalive is not None and now - connection.idle_since > self._keepalive
            closing = connection.transport is None or connection.transport.is_closing()
            if connection.closed or closing or not connection.reusable or stale:
                self._drop(connection)
            else:
                return connection
        return None

    def _drop(self, connection: _Connection) -> None:
        connection._close()
        self._open.discard(connection)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        server_hostname = self._host if self._tls is not None else None
        connecting = loop.create_connection(
            _Connection, self._host, self._port, ssl=self._tls, server_hostname=server_hostname
        )
        try:
            _, connection = await asyncio.wait_for(connecting, self._connect_timeout)
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raise httpx.ConnectTimeout(f"connecting to {self.origin} timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        self._open.add(connection)
        if self._pin is not None:
            self._check_pin(connection)
        return connection

    def _check_pin(self, connection: _Connection) -> None:
        assert connection.transport is not None and self._pin is not None
        ssl_object = connection.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        got = hashlib.sha256(der).digest() if der else b""
        if got != self._pin:
            self._drop(connection)
            from aiohttp import ServerFingerprintMismatch

            mismatch = ServerFingerprintMismatch(self._pin, got, self._host, self._port)
            raise httpx.ConnectError(str(mismatch)) from mismatch

    async def _exchange(self, connection: _Connection, request: bytes) -> _Answer:
        waiter = connection.send(request)
        timer = None
        if self._read_timeout is not None:
            timer = asyncio.get_running_loop().call_later(self._read_timeout, _expire(waiter, self.origin))
        try:
            return await waiter
        except BaseException:
            # Cancelled, timed out, or the answer failed: the connection's place in the stream is unknown.
            self._drop(connection)
            raise
        finally:
            if timer is not None:
                timer.cancel()


def _expire(waiter: asyncio.Future[_Answer], origin: str) -> Callable[[], None]:
    def expire() -> None:
        if not waiter.done():
            waiter.set_exception(httpx.ReadTimeout(f"{origin} did not answer in time"))

    return expire
