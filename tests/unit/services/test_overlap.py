"""Work done while the cluster is read: a stepwise load takes turns with the event loop's other work."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Generator

import pytest
from tests.unit.api.helpers import arun

from proxmox_mpc.services.overlap import STEP_SECONDS, Stepwise


def counting(pieces: int, log: list[str], piece_seconds: float = 0.0) -> Generator[None, None, int]:
    log.append("started")
    try:
        total = 0
        for n in range(pieces):
            yield
            if piece_seconds:
                end = time.perf_counter() + piece_seconds
                while time.perf_counter() < end:
                    pass
            total += n
        return total
    finally:
        log.append("cleaned up")


def test_nothing_runs_before_start_and_a_second_start_changes_nothing():
    log: list[str] = []

    async def run() -> int:
        work = Stepwise(lambda: counting(100, log))
        await asyncio.sleep(0.01)
        assert log == [] and not work.result.done()
        work.start()
        work.start()
        return await work.result

    assert arun(run()) == sum(range(100))
    assert log == ["started", "cleaned up"]


def test_it_takes_turns_with_the_loop_s_other_work():
    # 200 pieces of 0.5 ms: 0.1 s of work. Another task wants the loop at every turn meanwhile (as answers
    # do during a bulk read) and gets it throughout, not only once the work is done.
    turns: list[float] = []

    async def other(work: asyncio.Future[int]) -> None:
        while not work.done():
            turns.append(time.perf_counter())
            await asyncio.sleep(0)

    async def run() -> tuple[int, float]:
        work = Stepwise(lambda: counting(200, [], piece_seconds=0.0005))
        work.start()
        started = time.perf_counter()
        watcher = asyncio.ensure_future(other(work.result))
        total = await work.result
        await watcher
        return total, started

    total, started = arun(run())
    assert total == sum(range(200))
    during = [t for t in turns if t > started]
    assert len(during) >= 10
    gaps = [b - a for a, b in itertools.pairwise(during)]
    # A turn lasts about as long as the loop's other work took (here next to nothing): STEP_SECONDS and a
    # piece, far below the whole work's 0.1 s.
    assert max(gaps) < 0.05
    assert STEP_SECONDS < 0.01


def test_an_error_reaches_whoever_awaits_it():
    def failing() -> Generator[None, None, int]:
        yield
        raise ValueError("a manifest is bad")

    async def run() -> None:
        work = Stepwise(failing)
        work.start()
        await work.result

    with pytest.raises(ValueError, match="a manifest is bad"):
        arun(run())


def test_cancelled_it_cleans_up_and_its_result_is_cancelled():
    log: list[str] = []

    async def run() -> asyncio.Future[int]:
        work = Stepwise(lambda: counting(10**9, log))
        work.start()
        await asyncio.sleep(0.02)
        assert log == ["started"]
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.sleep(0.01)
        return work.result

    result = arun(run())
    assert result.cancelled()
    assert log == ["started", "cleaned up"]
