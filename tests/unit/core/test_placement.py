"""Drain placement: table cases and properties (never beyond a target's memory limit; every guest accounted for)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxmox_mpc.core.placement import GuestLoad, Move, NodeCapacity, place

GIB = 1024**3


def node(name, total_gib=64, used_gib=8, cpus=16, cpu=0.1, online=True):
    return NodeCapacity(name, online, total_gib * GIB, used_gib * GIB, cpus, cpu)


def guest(vmid, mem_gib=2, running=True, **kw):
    return GuestLoad(ref=f"vm/{vmid}", vmid=vmid, kind="vm", name=f"g{vmid}", running=running,
                     memory=mem_gib * GIB, **kw)


def targets(moves: list[Move]) -> dict[int, str | None]:
    return {m.guest.vmid: m.target for m in moves}


def test_goes_to_the_node_with_the_most_free_memory():
    nodes = [node("pve1"), node("pve2", used_gib=40), node("pve3", used_gib=10)]
    assert targets(place([guest(101)], nodes, source="pve1")) == {101: "pve3"}


def test_cpu_load_breaks_a_memory_tie():
    nodes = [node("pve1"), node("pve2", cpu=0.9), node("pve3", cpu=0.2)]
    assert targets(place([guest(101)], nodes, source="pve1")) == {101: "pve3"}


def test_spreads_guests_as_memory_fills():
    nodes = [node("pve1"), node("pve2", total_gib=16, used_gib=2), node("pve3", total_gib=16, used_gib=2)]
    moves = place([guest(101, 6), guest(102, 6)], nodes, source="pve1")
    assert sorted(m.target for m in moves) == ["pve2", "pve3"]


@pytest.mark.parametrize(
    ("guests", "kwargs", "reason"),
    [
        ([guest(101, running=False)], {}, "stopped: add --include-stopped"),
        ([guest(101, running=False, template=True)], {}, "template: add --include-stopped"),
        ([guest(101, local_disks=("local-lvm:vm-101-disk-0",))], {}, "local disks (local-lvm:vm-101-disk-0)"),
        ([guest(101, mem_gib=60)], {}, "no node has 61440 MiB free within the 10% headroom"),
        ([guest(101)], {"targets": ["pve3"]}, "no other online node to move it to"),
    ],
    ids=["stopped", "template", "local-disks", "too-big", "only-offline-targets"],
)
def test_reasons_to_stay(guests, kwargs, reason):
    nodes = [node("pve1"), node("pve2"), node("pve3", online=False)]
    moves = place(guests, nodes, source="pve1", **kwargs)
    assert moves[0].target is None
    assert moves[0].reason.startswith(reason)


def test_flags_move_stopped_guests_and_local_disks_and_ha_goes_through_ha():
    nodes = [node("pve1"), node("pve2")]
    guests = [
        guest(101, running=False),
        guest(102, local_disks=("local-lvm:vm-102-disk-0",)),
        guest(103, ha_managed=True),
    ]
    moves = place(guests, nodes, source="pve1", include_stopped=True, with_local_disks=True)
    assert targets(moves) == {101: "pve2", 102: "pve2", 103: "pve2"}
    assert [(m.via_ha, m.with_local_disks) for m in moves] == [(False, False), (False, True), (True, False)]


nodes_strategy = st.lists(
    st.builds(
        NodeCapacity,
        name=st.sampled_from(["pve1", "pve2", "pve3", "pve4", "pve5"]),
        online=st.booleans(),
        memory_total=st.integers(1, 256).map(lambda g: g * GIB),
        memory_used=st.integers(0, 256).map(lambda g: g * GIB // 2),
        cpus=st.integers(1, 64),
        cpu_usage=st.floats(0, 1),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda n: n.name,
)
guests_strategy = st.lists(
    st.builds(
        GuestLoad,
        ref=st.just(""),
        vmid=st.integers(100, 400),
        kind=st.sampled_from(["vm", "ct"]),
        name=st.just("g"),
        running=st.booleans(),
        memory=st.integers(0, 64).map(lambda g: g * GIB // 4),
        cpus=st.floats(1, 16),
        cpu_usage=st.floats(0, 1),
        template=st.booleans(),
        ha_managed=st.booleans(),
        local_disks=st.sampled_from([(), ("local-lvm:vm-1-disk-0",)]),
    ),
    max_size=30,
    unique_by=lambda g: g.vmid,
)


@given(
    nodes=nodes_strategy,
    guests=guests_strategy,
    include_stopped=st.booleans(),
    with_local_disks=st.booleans(),
    headroom=st.sampled_from([0.0, 0.1, 0.25]),
    only=st.none() | st.lists(st.sampled_from(["pve1", "pve2", "pve3", "pve4", "pve5"]), min_size=1),
)
def test_placement_properties(nodes, guests, include_stopped, with_local_disks, headroom, only):
    source = nodes[0].name
    moves = place(
        guests, nodes, source=source, targets=only, include_stopped=include_stopped,
        with_local_disks=with_local_disks, headroom=headroom,
    )
    # Every guest is accounted for once: placed, or given a reason.
    assert sorted(m.guest.vmid for m in moves) == sorted(g.vmid for g in guests)
    for move in moves:
        assert (move.target is None) == bool(move.reason)
    by_name = {n.name: n for n in nodes}
    added: dict[str, int] = {}
    for move in moves:
        if move.target is None:
            continue
        target = by_name[move.target]
        # Never the source, never an offline node, only the --to nodes.
        assert move.target != source and target.online
        assert only is None or move.target in only
        assert move.guest.running or include_stopped
        assert not move.guest.local_disks or with_local_disks
        assert move.via_ha == move.guest.ha_managed
        added[move.target] = added.get(move.target, 0) + move.guest.memory
    # Never beyond a target's memory limit (its total less the headroom).
    for name, memory in added.items():
        assert by_name[name].memory_used + memory <= by_name[name].memory_limit(headroom)


def test_local_volumes_are_the_disks_on_storages_that_are_not_shared():
    from proxmox_mpc.core.placement import local_volumes

    config = {
        "scsi0": "local-lvm:vm-101-disk-0,size=32G",
        "scsi1": "ceph:vm-101-disk-1,size=8G",
        "ide2": "none,media=cdrom",
        "ide0": "local:iso/debian.iso,media=cdrom",
        "unused0": "local-lvm:vm-101-disk-9",
        "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0",
    }
    assert local_volumes("vm", config, {"ceph"}) == (
        "local:iso/debian.iso", "local-lvm:vm-101-disk-0", "local-lvm:vm-101-disk-9"
    )
    assert local_volumes("ct", {"rootfs": "ceph:subvol-201-disk-0,size=8G", "mp0": "/srv,mp=/srv"}, {"ceph"}) == ()
