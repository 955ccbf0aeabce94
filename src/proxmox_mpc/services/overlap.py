"""Work done in a worker thread while the cluster is read, and the waiting for both.

The client mostly waits on the server while it reads a cluster; work a command needs anyway (its
manifests, the stored guests, the kinds' modules) goes in a worker thread meanwhile, and the event loop
gets the GIL back quickly whenever an answer arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def aside(work: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Start `work(*args)` in a worker thread, to be awaited while the cluster is read.

    Under `--profile` it runs here and now: a profile records this thread only, so it shows every phase.
    """
    if sys.getprofile() is None:
        return asyncio.ensure_future(asyncio.to_thread(work, *args))
    done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    try:
        done.set_result(work(*args))
    except Exception as exc:  # the future carries it to whoever awaits the work
        done.set_exception(exc)
    return done


# How long a worker thread beside the reads (see `aside`) may keep the GIL from the event loop, in seconds.
QUICK_SWITCH_INTERVAL = 0.0005


@contextlib.contextmanager
def quick_gil_handoff() -> Iterator[None]:
    """While a thread works beside the reads: the event loop gets the GIL back within 0.5 ms, not Python's 5 ms.

    The loop gives the GIL up at each socket call and must wait for it while the thread runs; at 5 ms a
    turn, the reads all but stop while the manifests load.
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, QUICK_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


async def beside(
    loading: asyncio.Future[T], reading: asyncio.Future[R], *helpers: asyncio.Future[Any]
) -> tuple[T, R]:
    """Wait for work loading in a thread (see `aside`) and for the reads going on beside it; return both.

    The loading's error wins over a read error, as when it was done before the cluster was read. When
    either fails, the reads and their `helpers` are cancelled rather than left running.
    """
    try:
        with quick_gil_handoff():
            await asyncio.wait((loading, reading), return_when=asyncio.FIRST_EXCEPTION)
        return await loading, await reading
    finally:
        for task in (reading, *helpers):
            task.cancel()
        await asyncio.gather(reading, *helpers, return_exceptions=True)
