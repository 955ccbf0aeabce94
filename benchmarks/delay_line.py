"""A loopback TCP delay line: forwards every connection to a target, holding each chunk RTT/2 per direction.

    python benchmarks/delay_line.py --listen-port P --target-port T --rtt-ms 5

It works below TLS (bytes in, the same bytes out later), so a client talks TLS to the server behind it
and pays a real round trip for every request, as it would across a network. Bandwidth is not limited:
chunks overlap in flight, only their delivery is delayed. Prints `listening on PORT` once it accepts.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import sys


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy reader to writer, each chunk delivered `delay` seconds after it arrived, in order."""
    loop = asyncio.get_running_loop()
    queue: collections.deque[tuple[float, bytes]] = collections.deque()
    ready = asyncio.Event()
    done = False

    async def deliver() -> None:
        while True:
            while not queue:
                if done:
                    return
                ready.clear()
                await ready.wait()
            due, chunk = queue[0]
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            queue.popleft()
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.ensure_future(deliver())
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            queue.append((loop.time() + delay, chunk))
            ready.set()
    except (ConnectionError, OSError):
        pass
    finally:
        done = True
        ready.set()
        with contextlib.suppress(ConnectionError, OSError):
            await sender
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def serve(listen_port: int, target_host: str, target_port: int, rtt: float) -> None:
    half = rtt / 2

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(pump(client_r, server_w, half), pump(server_r, client_w, half))
        finally:
            for w in (client_w, server_w):
                with contextlib.suppress(Exception):
                    w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, backlog=512)
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
