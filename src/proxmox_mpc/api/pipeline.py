"""How many requests a client keeps in flight: a fixed depth, or one that deepens while it is the network
the answers wait on.

A bulk read (sync, plan, generate) sends thousands of small GETs. With a fixed depth its pace is depth /
round trip: 32 in flight over a 20 ms link is 1,600 answers a second however fast the server is. So the
pipeline starts at its depth and, after each round (as many answers as it is deep), goes one step deeper
when requests had to wait for a slot and the typical answer still came about as fast as the quickest one
seen (the server queues nothing, the wait is the link). When the typical answer slows to twice the
quickest, it steps back, never below where it started. A busy server (or a busy client: the time an answer
waits for the event loop counts too) answers slower as it is sent more, so the depth stays where it is.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

# An answer is "about as fast as the quickest" within this share of it plus this many seconds.
CLOSE_SHARE = 1.25
CLOSE_SLACK = 0.002
# The typical answer at this multiple of the quickest (plus the slack) means answers queue: step back.
SLOW_SHARE = 2.0


class Pipeline:
    """A semaphore whose size (`depth`) may grow from `floor` to `ceiling` as the answers' times allow."""

    def __init__(self, depth: int, ceiling: int | None = None, *, step: int | None = None) -> None:
        self.floor = max(1, depth)
        self.depth = self.floor
        self.ceiling = max(self.floor, ceiling or self.floor)
        self.step = step or max(1, self.floor // 4)
        self.quickest = math.inf
        self._busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._round: list[float] = []
        self._queued = False

    @property
    def adaptive(self) -> bool:
        return self.ceiling > self.floor

    async def acquire(self) -> None:
        """Wait for a slot (in the order asked)."""
        if self._busy < self.depth and not self._waiters:
            self._busy += 1
            return
        self._queued = True
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(slot)
        try:
            await slot
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():
                self._busy -= 1  # given a slot just as it was cancelled: hand it on
                self._wake()
            else:
                self._waiters.remove(slot)
            raise

    def release(self, seconds: float | None = None) -> int | None:
        """Give a slot back, with how long its answer took (None: no answer came, nothing to learn).

        Returns the new depth when this answer ended a round that changed it, else None.
        """
        self._busy -= 1
        changed = self._learn(seconds) if seconds is not None and self.adaptive else None
        self._wake()
        return changed

    def _wake(self) -> None:
        while self._waiters and self._busy < self.depth:
            slot = self._waiters.popleft()
            if not slot.done():
                self._busy += 1
                slot.set_result(None)

    def _learn(self, seconds: float) -> int | None:
        self.quickest = min(self.quickest, seconds)
        self._round.append(seconds)
        if len(self._round) < self.depth:
            return None
        typical = sorted(self._round)[len(self._round) // 2]
        queued, self._queued = self._queued, False
        self._round.clear()
        before = self.depth
        if typical > SLOW_SHARE * self.quickest + CLOSE_SLACK:
            self.depth = max(self.floor, self.depth - self.step)
        elif queued and typical <= CLOSE_SHARE * self.quickest + CLOSE_SLACK:
            self.depth = min(self.ceiling, self.depth + self.step)
        return self.depth if self.depth != before else None
