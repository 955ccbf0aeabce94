"""The one vocabulary: pmpc's vm/ct and VM/CT, PVE's qemu/lxc only through two functions."""

import pytest

from proxmox_mpc.core import identity


@pytest.mark.parametrize(("kind", "word"), [("vm", "qemu"), ("ct", "lxc"), ("VM", "qemu"), ("CT", "lxc")])
def test_api_type_and_back(kind: str, word: str) -> None:
    assert identity.api_type(kind) == word
    assert identity.guest_kind(word) == kind.lower()
    assert identity.is_api_guest_type(word)


def test_manifest_spelling_and_prefix() -> None:
    assert identity.manifest_kind("vm") == "VM"
    assert identity.prefix("CT") == "ct"


@pytest.mark.parametrize("bad", ["qemu", "pool", "", "node"])
def test_unknown_kinds_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a guest kind"):
        identity.api_type(bad)
    with pytest.raises(ValueError, match="not a guest kind"):
        identity.prefix(bad)


@pytest.mark.parametrize("bad", ["vm", "storage", "QEMU"])
def test_unknown_api_words_are_refused(bad: str) -> None:
    assert not identity.is_api_guest_type(bad)
    with pytest.raises(ValueError, match="not a guest type"):
        identity.guest_kind(bad)
