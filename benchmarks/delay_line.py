"""A loopback TCP delay line: forwards every connection to a target, holding each chunk RTT/2 per direction.

    python benchmarks/delay_line.py --listen-port P --target-port T --rtt-ms 5

It works below TLS (bytes in, the same bytes out later), so a client talks TLS to the server behind it
and pays a real round trip for every request, as it would across a network. Bandwidth is not limited:
chunks overlap in flight, only their delivery is delayed. Prints `listening on PORT` once it accepts.

It is written on asyncio's protocols (one timer per direction, no task per chunk): on a real network the
wire costs the client's machine no CPU, and here the delay line shares the machine's cores with the client
and the server, so the less CPU it spends per chunk, the less it weighs on what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import sys

_EOF = b""  # queued after the last chunk: the sending side closed its half


class Direction:
    """One direction of a connection: chunks held `delay` seconds, then written in the order they came."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self.loop = loop
        self.delay = delay
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None
        self.out: asyncio.Transport | None = None  # where chunks go (known once the upstream is connected)

    def push(self, chunk: bytes) -> None:
        self.queue.append((self.loop.time() + self.delay, chunk))
        if self.timer is None and self.out is not None:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)

    def connect(self, out: asyncio.Transport) -> None:
        self.out = out
        if self.queue and self.timer is None:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)

    def flush(self) -> None:
        """Write every chunk that is due; wake again for the next one."""
        self.timer = None
        out, now = self.out, self.loop.time()
        assert out is not None
        while self.queue and self.queue[0][0] <= now:
            chunk = self.queue.popleft()[1]
            if out.is_closing():
                self.queue.clear()
                return
            if chunk is _EOF:
                with contextlib.suppress(OSError, RuntimeError):
                    if out.can_write_eof():
                        out.write_eof()
                    else:
                        out.close()
            else:
                out.write(chunk)
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)


class Side(asyncio.Protocol):
    """One socket of a connection: what it receives goes into its direction; its peer is the other socket."""

    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self.transport: asyncio.Transport | None = None
        self.peer: Side | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.direction.push(data)

    def eof_received(self) -> bool:
        self.direction.push(_EOF)
        return True  # keep our sending half open until the peer is done

    def connection_lost(self, exc: Exception | None) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.transport.is_closing():
            # Close the peer once what is still in flight towards it has been delivered.
            self.direction.loop.call_later(self.direction.delay, peer.transport.close)

    # Flow control: when our socket cannot take more, stop reading from the peer until it drains.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class Accepted(Side):
    """The client's socket: connects to the target when the client connects, then pairs the two."""

    def __init__(self, delay: float, target: tuple[str, int]) -> None:
        super().__init__(Direction(asyncio.get_running_loop(), delay))
        self.target = target

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.direction.loop.create_task(self.connect())

    async def connect(self) -> None:
        loop, delay = self.direction.loop, self.direction.delay
        assert self.transport is not None
        try:
            upstream_transport, upstream = await loop.create_connection(
                lambda: Side(Direction(loop, delay)), *self.target
            )
        except OSError:
            self.transport.close()
            return
        assert isinstance(upstream_transport, asyncio.Transport)
        self.peer, upstream.peer = upstream, self
        self.direction.connect(upstream_transport)
        upstream.direction.connect(self.transport)
        if self.transport.is_closing():
            upstream_transport.close()


async def serve(listen_port: int, target_host: str, target_port: int, rtt: float) -> None:
    loop = asyncio.get_running_loop()
    target = (target_host, target_port)
    server = await loop.create_server(lambda: Accepted(rtt / 2, target), "127.0.0.1", listen_port, backlog=512)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on {port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--target-host", default="127.0.0.1")
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--rtt-ms", type=float, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.listen_port, args.target_host, args.target_port, args.rtt_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
