"""The vzdump request, the volume a vzdump log names, and backup volumes from a content listing."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from proxmox_mpc.core.backups import (
    BackupOptions,
    BackupVolume,
    check_volid,
    parse_backup_name,
    volid_from_log,
    vzdump_params,
)
from proxmox_mpc.errors import UsageError

WHEN = datetime(2026, 12, 6, 3, 54, 36, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            BackupOptions(storage="local"),
            {"vmid": "101", "storage": "local", "mode": "snapshot", "compress": "zstd"},
        ),
        (
            BackupOptions(storage="pbs", mode="stop", compress="none", notes="pre {{vmid}}", protected=True),
            {
                "vmid": "101",
                "storage": "pbs",
                "mode": "stop",
                "compress": "0",
                "notes-template": "pre {{vmid}}",
                "protected": 1,
            },
        ),
    ],
    ids=["defaults", "every-option"],
)
def test_vzdump_params(options, expected):
    assert vzdump_params(101, options) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (BackupOptions(storage="local", mode="live"), "--mode live: use one of snapshot, suspend, stop."),
        (BackupOptions(storage="local", compress="xz"), "--compress xz: use one of zstd, lzo, gzip, none."),
        (BackupOptions(storage=""), "--storage is required: name the storage that keeps backups."),
    ],
    ids=["mode", "compress", "storage"],
)
def test_bad_options_name_the_flag(options, message):
    with pytest.raises(UsageError) as caught:
        options.check()
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("lines", "storage", "expected"),
    [
        (
            [
                "INFO: starting new backup job: vzdump 101 --storage local",
                "INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-qemu-101-2026_12_06-03_54_36.vma.zst'",
            ],
            "local",
            "local:backup/vzdump-qemu-101-2026_12_06-03_54_36.vma.zst",
        ),
        (
            ["INFO: creating Proxmox Backup Server archive 'vm/101/2026-12-06T03:54:36Z'"],
            "pbs",
            "pbs:backup/vm/101/2026-12-06T03:54:36Z",
        ),
        (["INFO: Backup job finished successfully"], "local", None),
    ],
    ids=["file-storage", "pbs", "none"],
)
def test_volid_from_log(lines, storage, expected):
    assert volid_from_log(lines, storage) == expected


@pytest.mark.parametrize(
    ("volid", "expected"),
    [
        ("local:backup/vzdump-qemu-101-2026_12_06-03_54_36.vma.zst", ("qemu", 101, WHEN)),
        ("nfs:backup/vzdump-lxc-201-2026_12_06-03_54_36.tar.gz", ("lxc", 201, WHEN)),
        ("pbs:backup/ct/201/2026-12-06T03:54:36Z", ("lxc", 201, WHEN)),
        ("local:backup/something-else.tar", (None, None, None)),
    ],
    ids=["vma", "tar", "pbs", "unknown"],
)
def test_parse_backup_name(volid, expected):
    assert parse_backup_name(volid) == expected


def test_backup_volume_prefers_the_listing_fields():
    raw = {
        "volid": "local:backup/vzdump-qemu-101-2026_12_06-03_54_36.vma.zst",
        "content": "backup",
        "ctime": int(WHEN.timestamp()) + 5,
        "size": 1234,
        "format": "vma.zst",
        "vmid": 101,
        "subtype": "qemu",
        "notes": "nightly",
        "protected": 1,
    }
    volume = BackupVolume.from_api("pve1", "local", raw)
    assert volume.model_dump(mode="json") == {
        "kind": "backup",
        "volid": raw["volid"],
        "storage": "local",
        "node": "pve1",
        "guest": "vm/101",
        "vmid": 101,
        "type": "qemu",
        "backup_time": "2026-12-06T03:54:41Z",
        "size": 1234,
        "format": "vma.zst",
        "notes": "nightly",
        "protected": True,
    }


@pytest.mark.parametrize("text", ["backup.vma", ":backup/x", "local:", ""])
def test_check_volid_rejects_what_is_not_a_volume_id(text):
    with pytest.raises(UsageError):
        check_volid(text)
