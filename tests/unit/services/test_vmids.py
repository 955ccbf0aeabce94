"""VMID allocation: nextid, never the same VMID twice in a process, a fresh one when PVE says it is taken."""

from __future__ import annotations

import asyncio

import pytest

from proxmox_mpc.errors import ApiError, Conflict, PmpcError, TaskFailedError
from proxmox_mpc.services.vmids import VMID_ATTEMPTS, VmidAllocator, is_vmid_collision, with_fresh_vmid


class FakeNextId:
    """The /cluster/nextid endpoint of a cluster whose guests hold `taken` (a fake, not a mock)."""

    def __init__(self, taken: set[int]) -> None:
        self.taken = set(taken)
        self.asked: list[int | None] = []

    async def next_vmid(self, vmid: int | None = None) -> int:
        self.asked.append(vmid)
        if vmid is None:
            return next(v for v in range(100, 10**6) if v not in self.taken)
        if vmid in self.taken:
            raise ApiError(f"VM {vmid} already exists", status=400)
        return vmid


def allocator(taken: set[int] = frozenset()) -> VmidAllocator:
    return VmidAllocator(FakeNextId(taken))  # type: ignore[arg-type]


def test_allocations_in_one_process_never_repeat():
    alloc = allocator({100, 102})

    async def many() -> list[int]:
        return list(await asyncio.gather(*(alloc.allocate() for _ in range(5))))

    assert sorted(asyncio.run(many())) == [101, 103, 104, 105, 106]


def test_a_chosen_vmid_is_checked_and_reserved():
    alloc = allocator({100})
    assert asyncio.run(alloc.reserve(150)) == 150
    assert 150 in alloc.reserved
    with pytest.raises(Conflict, match="VMID 100 is already in use"):
        asyncio.run(alloc.reserve(100))


@pytest.mark.parametrize(
    ("error", "collision"),
    [
        (ApiError("unable to create VM 101: config file already exists", status=500), True),
        (TaskFailedError("task failed", upid="UPID:x", exitstatus="VM 101 already exists on node pve2"), True),
        (ApiError("storage local-lvm is full", status=500), False),
        (PmpcError("no such template"), False),
    ],
    ids=["api", "task", "other-api", "other"],
)
def test_is_vmid_collision(error, collision):
    assert is_vmid_collision(error) is collision


def _attempts(fail: int, error: PmpcError):
    tried: list[int] = []

    async def attempt(vmid: int) -> str:
        tried.append(vmid)
        if len(tried) <= fail:
            raise error
        return f"made {vmid}"

    return tried, attempt


COLLISION = ApiError("config file already exists", status=500)


def test_a_collision_gets_a_fresh_vmid_and_reports_the_one_given_up():
    alloc = allocator()
    given_up: list[int] = []
    tried, attempt = _attempts(2, COLLISION)
    first = asyncio.run(alloc.allocate())
    vmid, made = asyncio.run(with_fresh_vmid(alloc, first, attempt, chosen=False, on_collision=given_up.append))
    assert tried == [100, 101, 102] and given_up == [100, 101]
    assert (vmid, made) == (102, "made 102")


def test_a_chosen_vmid_is_never_swapped():
    tried, attempt = _attempts(1, COLLISION)
    with pytest.raises(ApiError, match="already exists"):
        asyncio.run(with_fresh_vmid(allocator(), 4242, attempt, chosen=True))
    assert tried == [4242]


def test_other_errors_are_not_retried():
    tried, attempt = _attempts(1, ApiError("storage full", status=500))
    with pytest.raises(ApiError, match="storage full"):
        asyncio.run(with_fresh_vmid(allocator(), 100, attempt, chosen=False))
    assert tried == [100]


def test_collisions_stop_after_the_attempts():
    tried, attempt = _attempts(VMID_ATTEMPTS + 5, COLLISION)
    alloc = allocator()
    first = asyncio.run(alloc.allocate())
    with pytest.raises(ApiError, match="already exists"):
        asyncio.run(with_fresh_vmid(alloc, first, attempt, chosen=False))
    assert len(tried) == VMID_ATTEMPTS == len(set(tried))
