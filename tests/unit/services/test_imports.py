"""What `sync --import` builds while the sync reads: kept for the very guest and config it was built from."""

from __future__ import annotations

from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.services.imports import ManifestTexts


def test_a_guest_is_built_again_when_it_is_not_the_one_that_was_read():
    guest = ObservedGuest(vmid=101, name="web-1", node="pve1", kind="vm", status="running")
    guest.config = {"cores": 2, "memory": 2048}
    texts = ManifestTexts()
    texts(guest)
    built = texts.get(guest)
    assert built is not None and not isinstance(built, str) and built[:3] == ("VM", "web-1", 101)
    assert "  cores: 2\n" in built[3]
    stored = guest.model_copy(update={"config": {"cores": 2, "memory": 2048}})
    assert texts.get(stored) is None  # the same guest as the store holds it: built again from that
    guest.config = {"cores": 4, "memory": 2048}
    assert texts.get(guest) is None


def test_guests_are_built_a_batch_at_a_time_and_each_keeps_its_own_text():
    guests = []
    for vmid in range(100, 100 + ManifestTexts.BATCH + 6):  # one full batch and a few waiting
        guest = ObservedGuest(vmid=vmid, name=f"web-{vmid}", node="pve1", kind="vm", status="running")
        guest.config = {"cores": vmid % 7 + 1, "memory": 2048}
        guests.append(guest)
    texts = ManifestTexts()
    for guest in guests:
        texts(guest)
    for guest in reversed(guests):
        built = texts.get(guest)
        assert built is not None and not isinstance(built, str) and built[:3] == ("VM", guest.name, guest.vmid)
        assert f"  cores: {guest.vmid % 7 + 1}\n" in built[3]
