"""The pipeline: a fixed depth for verbs; a bulk read's deepens while answers wait on the link, not the server."""

from __future__ import annotations

import asyncio

from proxmox_mpc.api.pipeline import Pipeline


def answers(pipeline: Pipeline, seconds: float, count: int, *, queued: bool = True) -> list[int | None]:
    """Feed `count` answers of `seconds` each through the pipeline's bookkeeping (requests waited: `queued`)."""
    changes = []
    for _ in range(count):
        pipeline._busy += 1
        pipeline._queued = pipeline._queued or queued
        changes.append(pipeline.release(seconds))
    return changes


def test_fast_answers_with_requests_waiting_deepen_it_a_step_a_round_up_to_the_ceiling():
    pipeline = Pipeline(32, 64)
    assert (pipeline.floor, pipeline.depth, pipeline.ceiling, pipeline.step) == (32, 32, 64, 8)
    assert answers(pipeline, 0.020, 31) == [None] * 31
    assert answers(pipeline, 0.021, 1) == [40]  # a round is as many answers as the pipeline is deep
    assert [c for c in answers(pipeline, 0.022, 40 + 48 + 56) if c] == [48, 56, 64]
    assert [c for c in answers(pipeline, 0.020, 64 * 3) if c] == []  # at the ceiling it stays


def test_it_stays_when_no_request_had_to_wait():
    pipeline = Pipeline(32, 64)
    assert [c for c in answers(pipeline, 0.020, 32 * 4, queued=False) if c] == []
    assert pipeline.depth == 32


def test_answers_that_slow_down_hold_it_then_step_it_back_never_below_the_floor():
    pipeline = Pipeline(32, 64)
    answers(pipeline, 0.005, 32)  # the quickest: 5 ms
    assert pipeline.depth == 40
    assert [c for c in answers(pipeline, 0.009, 40) if c] == []  # 9 ms: slower than close, not yet slow: held
    assert [c for c in answers(pipeline, 0.015, 40 + 32 + 32) if c] == [32]  # 15 ms: queued; back to the floor


def test_a_request_without_an_answer_teaches_nothing():
    pipeline = Pipeline(4, 8)
    for _ in range(8):
        pipeline._busy += 1
        pipeline._queued = True
        assert pipeline.release(None) is None
    assert (pipeline.depth, pipeline.quickest) == (4, float("inf"))


def test_a_fixed_pipeline_never_moves():
    pipeline = Pipeline(16)
    assert not pipeline.adaptive
    assert [c for c in answers(pipeline, 0.020, 16 * 5) if c] == []
    assert pipeline.depth == 16


def test_no_more_than_depth_requests_are_in_flight_and_they_go_in_order():
    async def scenario() -> tuple[int, list[int]]:
        pipeline = Pipeline(3)
        busy = peak = 0
        order: list[int] = []

        async def request(i: int) -> None:
            nonlocal busy, peak
            await pipeline.acquire()
            order.append(i)
            busy += 1
            peak = max(peak, busy)
            await asyncio.sleep(0.001)
            busy -= 1
            pipeline.release(0.001)

        await asyncio.gather(*(request(i) for i in range(12)))
        return peak, order

    peak, order = asyncio.run(scenario())
    assert (peak, order) == (3, list(range(12)))


def test_a_request_cancelled_while_waiting_or_just_given_a_slot_leaks_no_slot():
    async def scenario() -> tuple[int, int]:
        pipeline = Pipeline(1)
        await pipeline.acquire()  # the one slot
        waiting = asyncio.ensure_future(pipeline.acquire())
        given = asyncio.ensure_future(pipeline.acquire())
        await asyncio.sleep(0)
        waiting.cancel()  # cancelled while it waits
        await asyncio.sleep(0)
        pipeline.release(0.001)  # the slot goes to `given`...
        given.cancel()  # ...which is cancelled before it runs: the slot must come back
        await asyncio.gather(waiting, given, return_exceptions=True)
        late = asyncio.ensure_future(pipeline.acquire())
        await asyncio.wait_for(late, 1)
        return pipeline._busy, len(pipeline._waiters)

    assert asyncio.run(scenario()) == (1, 0)
