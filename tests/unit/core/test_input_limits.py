"""Validation gaps closed: whole-string patterns, PVE's own bounds, exact integer sizes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from proxmox_mpc.core import normalize as nz
from proxmox_mpc.core.guest_params import check_name
from proxmox_mpc.core.manifest import (
    MAX_MEMORY_MIB,
    CtManifest,
    VmManifest,
    manifest_to_config,
    manifest_to_document,
)
from proxmox_mpc.core.models import INT64_MAX, to_int
from proxmox_mpc.core.pveconfig import parse_size


def vm(**spec: Any) -> dict[str, Any]:
    return {"kind": "VM", "name": spec.pop("name", "web-1"), "node": "pve1", "spec": spec}


# (id, document, accepted)
VM_CASES = [
    ("name", vm(), True),
    ("name-trailing-newline", vm(name="web-1\n"), False),
    ("name-70-characters", vm(name="a" * 62 + "-long-vm"), True),
    ("name-255-characters", vm(name="a" * 255), True),
    ("name-256-characters", vm(name="a" * 256), False),
    ("disk-slot", vm(disks=[{"slot": "scsi0", "storage": "local-lvm", "size": "32G"}]), True),
    ("disk-slot-trailing-newline", vm(disks=[{"slot": "scsi0\n", "storage": "local-lvm", "size": "32G"}]), False),
    ("nic-slot-trailing-newline", vm(networks=[{"slot": "net0\n", "bridge": "vmbr0"}]), False),
    ("mac", vm(networks=[{"slot": "net0", "bridge": "vmbr0", "macaddr": "BC:24:11:00:01:01"}]), True),
    (
        "mac-trailing-newline",
        vm(networks=[{"slot": "net0", "bridge": "vmbr0", "macaddr": "BC:24:11:00:01:01\n"}]),
        False,
    ),
    ("memory-at-bound", vm(memory=MAX_MEMORY_MIB), True),
    ("memory-above-bound", vm(memory=MAX_MEMORY_MIB + 1), False),
    ("memory-10e30", vm(memory=10**30), False),
    ("cores-8192", vm(cores=8192), True),
    ("cores-8193", vm(cores=8193), False),
    ("sockets-64", vm(sockets=64), True),
    ("sockets-65", vm(sockets=65), False),
    ("vmid-above-bound", {**vm(), "vmid": 1_000_000_000}, False),
]


@pytest.mark.parametrize(("document", "accepted"), [c[1:] for c in VM_CASES], ids=[c[0] for c in VM_CASES])
def test_vm_manifest_bounds_and_patterns(document, accepted):
    if accepted:
        VmManifest.model_validate(document)
    else:
        with pytest.raises(ValidationError):
            VmManifest.model_validate(document)


CT_CASES = [
    ("swap-at-bound", {"swap": MAX_MEMORY_MIB}, True),
    ("swap-above-bound", {"swap": MAX_MEMORY_MIB + 1}, False),
    ("mount-slot-trailing-newline", {"mounts": [{"slot": "mp0\n", "path": "/d", "storage": "s", "size": "1G"}]}, False),
]


@pytest.mark.parametrize(("spec", "accepted"), [c[1:] for c in CT_CASES], ids=[c[0] for c in CT_CASES])
def test_ct_manifest_bounds_and_patterns(spec, accepted):
    document = {"kind": "CT", "name": "dns-1", "node": "pve1", "spec": spec}
    if accepted:
        CtManifest.model_validate(document)
    else:
        with pytest.raises(ValidationError):
            CtManifest.model_validate(document)


SIZES = [
    ("huge-exact", "99999999999999999999T", "99999999999999999999T"),
    ("fraction", "1.5T", "1536G"),
    ("bytes", "1024", "1K"),
    ("mebibytes", "512M", "512M"),
    ("2-to-the-70-bytes", str(2**70), "1073741824T"),
]


@pytest.mark.parametrize(("text", "canonical"), [s[1:] for s in SIZES], ids=[s[0] for s in SIZES])
def test_sizes_are_integer_arithmetic(text, canonical):
    assert nz.canonical_size(text) == canonical
    manifest = VmManifest.model_validate(vm(disks=[{"slot": "scsi0", "storage": "local-lvm", "size": text}]))
    assert manifest.spec.disks[0].size == canonical
    assert manifest_to_document(manifest)["spec"]["disks"][0]["size"] == canonical
    if canonical.endswith(("G", "T")):  # a new volume is asked for in GiB, exactly
        assert manifest_to_config(manifest)["scsi0"] == f"local-lvm:{parse_size(text) // 1024**3}"


@pytest.mark.parametrize("text", ["inf", "nan", "1e400", "12Q", "32GG", "32G\n1"], ids=str)
def test_non_sizes_are_refused(text):
    with pytest.raises(ValueError):
        parse_size(float(text) if text in ("inf", "nan") else text)


API_NUMBERS = [
    ("plain", "2048", 2048),
    ("float", 2048.0, 2048),
    ("exact-big", str(2**62 + 1), 2**62 + 1),
    ("beyond-int64", 10**30, INT64_MAX),
    ("beyond-int64-text", "1e30", INT64_MAX),
    ("infinite", float("inf"), 0),
    ("garbage", "lots", 0),
]


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in API_NUMBERS], ids=[c[0] for c in API_NUMBERS])
def test_numbers_from_the_api_fit_the_state_store(value, expected):
    assert to_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("99999999999999999999", "99999999999999999999"), ("inf", "inf"), ("2.50", "2.5"), (" 7 ", "7")],
    ids=["exact", "infinite", "decimal", "spaces"],
)
def test_integer_text_is_exact(value, expected):
    assert nz.int_text(value) == expected


@pytest.mark.parametrize("name", ["web-1\n", "web-1 ", "-web"], ids=repr)
def test_cli_names_match_the_whole_string(name):
    with pytest.raises(Exception, match="name"):
        check_name(name, "--name")
