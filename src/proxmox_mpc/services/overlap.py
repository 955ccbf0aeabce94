"""Work done while the cluster is read, and the waiting for both.

The client mostly waits on the server while it reads a cluster; work a command needs anyway goes on
meanwhile. Work done in one piece (importing the kinds' modules, one query of the state store) goes in
a worker thread (`aside`), and the event loop gets the GIL back quickly whenever an answer arrives.
Work made of many small pieces (parsing 10,000 manifests, making their specs) takes turns with the
answers on the event loop's own thread (`Stepwise`): in a thread it kept the loop from its sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any, Generic, TypeVar, cast

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


def drain(steps: Generator[None, None, T]) -> T:
    """Run stepwise work (see `Stepwise`) to its end at once and return its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(T, done.value)


# How long the event loop's thread works at a stepwise load (see Stepwise) before it serves the reads again.
STEP_SECONDS = 0.002


class Stepwise(Generic[T]):
    """Work done on the event loop's own thread between the reads, from the first `start()` on; `result` is
    its future from the outset, to be awaited like aside's.

    `steps()` makes a generator that yields after each small piece of the work (a manifest file) and returns
    the result. It takes turns with the loop's other work: each turn runs pieces for as long as the loop
    took since the last one (at least STEP_SECONDS), then the loop serves the answers that came in.
    Not a worker thread: the loop gives the interpreter up at each socket call and waits for it again behind
    the thread, so while 10,000 manifests loaded in one the reads all but stopped (at any switch interval).
    """

    def __init__(self, steps: Callable[[], Generator[None, None, T]]) -> None:
        self.result: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._steps = steps
        self._task: asyncio.Future[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        steps = self._steps()
        clock = time.perf_counter
        try:
            await asyncio.sleep(0)  # what was started with it (the per-guest reads) goes out first
            paused = clock()
            while True:
                # As long as the loop took for the answers since the last turn (at least STEP_SECONDS): an
                # even share, as answers come in all the time during a bulk read.
                now = clock()
                until = now + max(STEP_SECONDS, now - paused)
                while clock() < until:
                    next(steps)
                paused = clock()
                await asyncio.sleep(0)
        except StopIteration as done:
            self.result.set_result(done.value)
        except asyncio.CancelledError:
            steps.close()  # its cleanup runs (the manifest cache's store is closed)
            self.result.cancel()
            raise
        except Exception as exc:  # the future carries it to whoever awaits the work
            self.result.set_exception(exc)


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
    """Wait for work loading beside the reads (see `Stepwise`) and for the reads; return both.

    The loading's error wins over a read error, as when it was done before the cluster was read. When
    either fails, the reads and their `helpers` are cancelled rather than left running.
    """
    try:
        await asyncio.wait((loading, reading), return_when=asyncio.FIRST_EXCEPTION)
        return await loading, await reading
    finally:
        for task in (reading, *helpers):
            task.cancel()
        await asyncio.gather(reading, *helpers, return_exceptions=True)
