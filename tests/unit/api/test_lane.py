"""The GET lane (api/lane.py) against a raw loopback server that answers with scripted bytes.

The scenarios a library handles and a hand-written HTTP/1.1 reader can get wrong: answers cut anywhere,
chunked and compressed bodies, interim answers, bodies up to the close, servers that close a kept-alive
connection, hang, or answer with something that is not HTTP. test_direct_gets.py runs the client's GETs
(now on the lane) against httpx's path for the same answers; tests/integration runs them on fakepve.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from proxmox_mpc.api.lane import Lane, Unsupported

# One scripted answer: what the server writes for a request (bytes, written in pieces of `step` bytes).
Script = Callable[[bytes, int], Awaitable[bytes | None]]


class RawServer:
    """Reads requests on loopback and answers each from `answer(request, connection_number)`.

    The answer is written in pieces of `step` bytes with a pause between them; None closes the connection
    without a word; an answer ending with `CLOSE` is followed by closing the connection.
    """

    CLOSE = b"<close>"

    def __init__(self, answer: Callable[[bytes, int], bytes | None], step: int = 0) -> None:
        self.answer = answer
        self.step = step
        self.requests: list[tuple[int, bytes]] = []  # (connection number, request head)
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests.append((number, head))
                answer = self.answer(head, number)
                if answer is None:
                    return
                close = answer.endswith(self.CLOSE)
                answer = answer.removesuffix(self.CLOSE)
                if self.step:
                    for i in range(0, len(answer), self.step):
                        writer.write(answer[i : i + self.step])
                        await writer.drain()
                        await asyncio.sleep(0)
                else:
                    writer.write(answer)
                    await writer.drain()
                if close:
                    return
        except asyncio.CancelledError:
            pass  # the test is over: the server is shutting down
        finally:
            writer.close()


def ok(value: Any, *extra: str) -> bytes:
    body = json.dumps({"data": value}).encode()
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def run(answer: Callable[[bytes, int], bytes | None], calls: Callable[[Lane, str], Awaitable[Any]], **kw: Any) -> Any:
    step = kw.pop("step", 0)

    async def main() -> Any:
        async with RawServer(answer, step) as server:
            lane = Lane(server.url, None, **kw)
            try:
                return await calls(lane, server.url), server
            finally:
                await lane.aclose()

    return asyncio.run(main())


async def bodies(lane: Lane, url: str, count: int = 2) -> list[Any]:
    headers = {"Accept": "application/json"}
    return [json.loads((await lane.get(url + "/api2/json/nodes", headers)).body) for _ in range(count)]


def test_an_answer_cut_into_single_bytes_arrives_whole_and_the_connection_is_kept():
    result, server = run(lambda head, n: ok([{"node": "pve1"}]), bodies, step=1)
    assert result == [{"data": [{"node": "pve1"}]}] * 2
    assert [n for n, _ in server.requests] == [1, 1]
    first = server.requests[0][1]
    assert first.startswith(b"GET /api2/json/nodes HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nAccept: application/json\r\n" in first and b"Accept-Encoding: gzip, deflate" in first


def test_a_chunked_answer_with_extensions_and_trailers_is_joined():
    def answer(head: bytes, n: int) -> bytes:
        body = json.dumps({"data": "x" * 300}).encode()
        parts = [body[:7], body[7:200], body[200:]]
        chunks = b"".join(b"%x;name=v\r\n%s\r\n" % (len(p), p) for p in parts)
        trailer = b"0\r\nX-Trailer: 1\r\n\r\n" if n == 1 else b"0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + trailer

    result, server = run(answer, bodies, step=5)
    assert result == [{"data": "x" * 300}] * 2 and server.connections == 1


@pytest.mark.parametrize(
    ("coding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda b: zlib.compress(b, wbits=-15))],
)
def test_a_compressed_answer_is_decoded(coding, encode):
    body = encode(json.dumps({"data": list(range(500))}).encode())
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    result, _ = run(lambda h, n: head + body, bodies)
    assert result == [{"data": list(range(500))}] * 2


def test_a_body_up_to_the_close_and_connection_close_take_a_new_connection_each():
    def answer(head: bytes, n: int) -> bytes:
        if n == 1:
            return b"HTTP/1.1 200 OK\r\n\r\n" + json.dumps({"data": 1}).encode() + RawServer.CLOSE
        return ok(2, "Connection: close") + RawServer.CLOSE

    result, server = run(answer, lambda lane, url: bodies(lane, url, 3))
    assert result == [{"data": 1}, {"data": 2}, {"data": 2}]
    assert [n for n, _ in server.requests] == [1, 2, 3]


def test_an_interim_answer_is_skipped_and_no_content_has_no_body():
    def answer(head: bytes, n: int) -> bytes:
        if b"/nodes" in head:
            return b"HTTP/1.1 100 Continue\r\n\r\n" + ok("after")
        return b"HTTP/1.1 204 No Content\r\n\r\n"

    async def calls(lane: Lane, url: str) -> Any:
        got = await lane.get(url + "/api2/json/nodes", {})
        empty = await lane.get(url + "/api2/json/empty", {})
        return json.loads(got.body), (empty.status, empty.body)

    (result, empty), server = run(answer, calls)
    assert result == {"data": "after"} and empty == (204, b"") and server.connections == 1


def test_a_kept_connection_the_server_closed_while_idle_is_retried_once_on_a_new_one():
    # The server answers one request per connection and then closes it, without saying so.
    result, server = run(lambda head, n: ok(n) + RawServer.CLOSE, lambda lane, url: bodies(lane, url, 3))
    assert result == [{"data": 1}, {"data": 2}, {"data": 3}]
    assert [n for n, _ in server.requests] == [1, 2, 3]


def test_a_connection_closed_in_the_middle_of_an_answer_is_an_error_not_a_retry():
    def answer(head: bytes, n: int) -> bytes:
        return ok("x" * 100)[:-20] + RawServer.CLOSE

    async def calls(lane: Lane, url: str) -> Any:
        with pytest.raises(httpx.RemoteProtocolError):
            await lane.get(url + "/api2/json/nodes", {})

    _, server = run(answer, calls)
    assert len(server.requests) == 1


def test_a_server_that_does_not_answer_is_a_read_timeout_and_the_connection_is_dropped():
    def answer(head: bytes, n: int) -> bytes:
        return b"" if n == 1 else ok("second")  # the first connection's answer never comes

    async def calls(lane: Lane, url: str) -> Any:
        with pytest.raises(httpx.ReadTimeout):
            await lane.get(url + "/api2/json/nodes", {})
        return json.loads((await lane.get(url + "/api2/json/nodes", {})).body)

    result, server = run(answer, calls, timeout=httpx.Timeout(0.2))
    assert result == {"data": "second"} and [n for n, _ in server.requests] == [1, 2]


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}{}",  # more than the answer: the stream is out of step
    ],
)
def test_an_answer_the_lane_cannot_read_is_unsupported_and_its_connection_not_reused(answer):
    async def calls(lane: Lane, url: str) -> Any:
        try:
            got = await lane.get(url + "/api2/json/nodes", {})
        except Unsupported as exc:
            assert exc.answered
            return "unsupported"
        return got.body

    result, server = run(lambda head, n: answer, calls)
    if result != "unsupported":  # the extra bytes: the answer is read, its connection never used again
        assert result == b"{}"
    assert server.connections == 1


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/api2/json/nodes/pve 1", {}),
        ("/api2/json/nodes/pvé", {}),
        ("/api2/json/nodes", {"Cookie": "a\r\nX-Injected: 1"}),
        ("/api2/json/nodes", {"Bad Name": "1"}),
    ],
)
def test_a_request_the_lane_would_have_to_alter_is_not_sent(url, headers):
    async def calls(lane: Lane, base: str) -> Any:
        with pytest.raises(Unsupported) as caught:
            await lane.get(base + url, headers)
        assert not caught.value.answered

    _, server = run(lambda head, n: ok(1), calls)
    assert server.requests == []


def test_a_get_cancelled_while_it_waits_drops_its_connection():
    async def calls(lane: Lane, url: str) -> Any:
        first = json.loads((await lane.get(url + "/api2/json/nodes", {})).body)
        task = asyncio.ensure_future(lane.get(url + "/api2/json/nodes", {}))
        await asyncio.sleep(0)  # the request is written on the kept connection; cancel before its answer is read
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return first, json.loads((await lane.get(url + "/api2/json/nodes", {})).body)

    result, server = run(lambda head, n: ok(n), calls)
    # The third GET took a new connection: it did not read the cancelled one's answer.
    assert result == ({"data": 1}, {"data": 2})
    assert [n for n, _ in server.requests][-1] == 2


def test_the_client_sends_a_get_the_lane_cannot_read_through_aiohttp_and_keeps_to_it():
    from pydantic import SecretStr

    from proxmox_mpc.api.auth import TokenAuth
    from proxmox_mpc.api.client import ProxmoxClient

    def answer(head: bytes, n: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\n" if n == 1 else ok([{"node": f"pve{n}"}])

    async def calls(_: Lane, url: str) -> Any:
        trace: list[str] = []
        auth = TokenAuth("root@pam!ci", SecretStr("s3cret"))
        async with ProxmoxClient(base_url=url, auth=auth, tracer=trace.append, backoff=0.0) as api:
            return [await api.nodes(), await api.nodes()], trace

    ((first, second), trace), server = run(answer, calls)
    assert first == [{"node": "pve2"}] and second == [{"node": "pve2"}]
    assert [n for n, _ in server.requests] == [1, 2, 2]  # the lane's one try, then aiohttp's kept connection
    assert any("GET lane: Content-Encoding 'br'" in line for line in trace)
    assert b"s3cret" not in b"".join(line.encode() for line in trace)


def test_a_connection_takes_a_transport_of_another_event_loop():
    """uvloop's transports (an embedding program may run pmpc on uvloop) are not asyncio.Transport subclasses."""
    from proxmox_mpc.api.lane import _Connection

    class Transport:  # what the lane uses of a transport, and nothing of asyncio's classes
        def __init__(self) -> None:
            self.sent: list[bytes] = []
            self.closing = False

        def write(self, data: bytes) -> None:
            self.sent.append(data)

        def is_closing(self) -> bool:
            return self.closing

        def close(self) -> None:
            self.closing = True

    async def main() -> Any:
        connection = _Connection()
        transport = Transport()
        connection.connection_made(transport)  # type: ignore[arg-type]
        waiter = connection.send(b"GET / HTTP/1.1\r\n\r\n")
        connection.data_received(ok("uv"))
        return json.loads((await waiter).body), transport.sent, connection.reusable

    assert asyncio.run(main()) == ({"data": "uv"}, [b"GET / HTTP/1.1\r\n\r\n"], True)
