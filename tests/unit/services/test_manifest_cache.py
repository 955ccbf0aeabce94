"""The manifest cache: an unchanged workspace is not parsed again, and nothing else changes.

The files are dated a minute ago, but their ctime (which no one can set back) is now: the fixture lets
the cache take files changed a moment ago, except where a test checks that rule.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from proxmox_mpc.config import Settings
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import ManifestError
from proxmox_mpc.services import manifest_cache, manifests
from proxmox_mpc.services.manifests import resources_dir
from proxmox_mpc.services.workspace_manifests import workspace_manifests
from proxmox_mpc.state.store import open_store

COUNT = 6
MANIFEST = """\
kind: VM
name: web-{i}
node: pve1
vmid: {vmid}
spec:
  cores: 2
  memory: 2048
  tags: [web]
  networks:
    - slot: net0
      model: virtio
      bridge: vmbr0
      macaddr: BC:24:11:00:00:{i:02X}
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with COUNT manifests (old enough to cache) and a migrated state database."""
    monkeypatch.setattr(manifest_cache, "CACHE_MIN_FILES", 1)
    monkeypatch.setattr(manifest_cache, "SETTLE_NS", 0)
    (tmp_path / "pmpc.yaml").write_text("name: cache\n", encoding="utf-8")
    vms = resources_dir(tmp_path) / "vms"
    vms.mkdir(parents=True)
    for i in range(COUNT):
        write(vms / f"web-{i}.yaml", MANIFEST.format(i=i, vmid=100 + i))
    open_store(f"sqlite:///{tmp_path / '.pmpc' / 'state.db'}").close()
    return tmp_path


def write(path: Path, text: str, age: float = 60.0) -> None:
    """Write a file dated `age` seconds ago (the cache leaves files written a moment ago alone)."""
    path.write_text(text, encoding="utf-8")
    stamp = path.stat().st_mtime - age
    os.utime(path, (stamp, stamp))


def ctx(workspace: Path) -> AppContext:
    return AppContext(loader=lambda: Settings(), workspace=workspace)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files parsed from YAML (not taken from the cache), in order."""
    seen: list[str] = []
    original = manifests.parse_text

    def counting(text: str, path: str):  # type: ignore[no-untyped-def]
        seen.append(Path(path).name)
        return original(text, path)

    monkeypatch.setattr(manifests, "parse_text", counting)
    return seen


def test_a_second_load_parses_nothing_and_gives_the_same_manifests(workspace, parsed):
    first = workspace_manifests(ctx(workspace))
    assert len(parsed) == COUNT
    parsed.clear()
    second = workspace_manifests(ctx(workspace))
    assert parsed == []
    assert [m.manifest for m in second] == [m.manifest for m in first]
    assert [m.manifest.model_fields_set for m in second] == [m.manifest.model_fields_set for m in first]
    assert [m.source.marks for m in second] == [m.source.marks for m in first]
    assert [m.source.keys for m in second] == [m.source.keys for m in first]
    for made, read in zip(second, first, strict=True):
        assert_same(made.manifest, read.manifest)


def assert_same(made: object, read: object) -> None:
    """Fail unless two values are equal with the same types throughout, models with the same fields set."""
    assert type(made) is type(read)
    if isinstance(read, BaseModel):
        assert isinstance(made, BaseModel)
        assert made.model_fields_set == read.model_fields_set
        assert made.__pydantic_extra__ == read.__pydantic_extra__
        assert made.__pydantic_private__ == read.__pydantic_private__
        assert_same(made.__dict__, read.__dict__)
    elif isinstance(read, dict):
        assert isinstance(made, dict) and list(made) == list(read)
        for key, value in read.items():
            assert_same(made[key], value)
    elif isinstance(read, list):
        assert isinstance(made, list) and len(made) == len(read)
        for x, y in zip(made, read, strict=True):
            assert_same(x, y)
    else:
        assert made == read


def stored(workspace: Path) -> dict[str, tuple[int, int, str, str]]:
    store = open_store(f"sqlite:///{workspace / '.pmpc' / 'state.db'}")
    try:
        return store.cached_manifests(os.path.join(os.path.abspath(resources_dir(workspace)), ""))
    finally:
        store.close()


def test_manifests_are_made_from_their_values_without_validating_them_again(workspace, parsed, monkeypatch):
    first = workspace_manifests(ctx(workspace))
    assert {body.split("\n", 1)[0].rsplit(",", 1)[1] for _, _, _, body in stored(workspace).values()} == {"1]]]"}
    parsed.clear()
    from pydantic import BaseModel as Model

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("validated again")

    monkeypatch.setattr(Model, "model_validate_json", refused)
    monkeypatch.setattr(Model, "model_validate", refused)
    second = workspace_manifests(ctx(workspace))
    assert parsed == []
    for made, read in zip(second, first, strict=True):
        assert_same(made.manifest, read.manifest)


def test_a_model_that_cannot_be_made_is_validated_from_its_json(workspace, parsed, monkeypatch):
    monkeypatch.setattr(manifest_cache, "_builder", lambda model: None)
    first = workspace_manifests(ctx(workspace))
    parsed.clear()
    second = workspace_manifests(ctx(workspace))
    assert parsed == []
    for made, read in zip(second, first, strict=True):
        assert_same(made.manifest, read.manifest)


def test_an_edit_that_keeps_the_size_and_sets_the_mtime_back_is_seen(workspace, parsed):
    target = resources_dir(workspace) / "vms" / "web-3.yaml"
    before = target.stat()
    workspace_manifests(ctx(workspace))
    parsed.clear()
    time.sleep(0.05)  # past the file system's clock tick: the rewrite gets a new ctime
    with target.open("r+", encoding="utf-8") as file:  # in place: the same inode
        file.write(MANIFEST.format(i=3, vmid=103).replace("cores: 2", "cores: 4"))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    loaded = workspace_manifests(ctx(workspace))
    assert parsed == ["web-3.yaml"]
    assert {m.manifest.name: m.manifest.spec.cores for m in loaded}["web-3"] == 4


def test_another_pmpc_version_parses_again(workspace, parsed, monkeypatch):
    import proxmox_mpc

    workspace_manifests(ctx(workspace))
    parsed.clear()
    now = manifest_cache.cache_format()
    monkeypatch.setattr(proxmox_mpc, "__version__", "99.0.0")
    manifest_cache.cache_format.cache_clear()
    try:
        assert manifest_cache.cache_format() != now
        workspace_manifests(ctx(workspace))
    finally:
        manifest_cache.cache_format.cache_clear()
    assert len(parsed) == COUNT


@pytest.mark.parametrize(
    "body",
    ["", "not json", "[1, 2]", '[0, 0, [["VM", 1, 1, 1]]]', "[{}]", '{"a": 1}\n{}\n[]', "[" * 100_000],
    ids=["empty", "text", "short", "no-data", "wrong-shape", "object", "deep"],
)
def test_a_damaged_cache_is_parsed_around(workspace, parsed, body):
    import sqlite3

    first = workspace_manifests(ctx(workspace))
    with sqlite3.connect(workspace / ".pmpc" / "state.db") as conn:
        conn.execute("UPDATE pmpc_manifest_cache SET body = ?", (body,))
    parsed.clear()
    again = workspace_manifests(ctx(workspace))
    assert len(parsed) == COUNT
    assert [m.manifest for m in again] == [m.manifest for m in first]
    parsed.clear()
    workspace_manifests(ctx(workspace))  # the entries were written again
    assert parsed == []


def test_a_changed_file_is_parsed_again_and_its_change_seen(workspace, parsed):
    workspace_manifests(ctx(workspace))
    parsed.clear()
    target = resources_dir(workspace) / "vms" / "web-3.yaml"
    write(target, MANIFEST.format(i=3, vmid=103).replace("cores: 2", "cores: 4"), age=30)
    loaded = workspace_manifests(ctx(workspace))
    assert parsed == ["web-3.yaml"]
    assert {m.manifest.name: m.manifest.spec.cores for m in loaded}["web-3"] == 4


def test_a_file_written_a_moment_ago_is_not_cached(workspace, parsed, monkeypatch):
    monkeypatch.setattr(manifest_cache, "SETTLE_NS", 300_000_000)
    time.sleep(0.35)  # the fixture's files settle; the one written now has not
    target = resources_dir(workspace) / "vms" / "web-1.yaml"
    target.write_text(MANIFEST.format(i=1, vmid=101), encoding="utf-8")
    workspace_manifests(ctx(workspace))
    parsed.clear()
    workspace_manifests(ctx(workspace))
    assert parsed == ["web-1.yaml"]


def test_a_removed_file_is_forgotten(workspace):
    workspace_manifests(ctx(workspace))
    (resources_dir(workspace) / "vms" / "web-0.yaml").unlink()
    assert len(workspace_manifests(ctx(workspace))) == COUNT - 1
    store = open_store(f"sqlite:///{workspace / '.pmpc' / 'state.db'}")
    try:
        cached = store.cached_manifests(os.path.join(os.path.abspath(resources_dir(workspace)), ""))
    finally:
        store.close()
    assert sorted(Path(p).name for p in cached) == [f"web-{i}.yaml" for i in range(1, COUNT)]


def test_errors_in_cached_files_keep_file_line_and_column(workspace, parsed, monkeypatch):
    monkeypatch.chdir(workspace)
    workspace_manifests(ctx(workspace))
    parsed.clear()
    # A new file repeats web-2's VMID and MAC: the error points into both files, the cached one included.
    write(resources_dir(workspace) / "vms" / "zz.yaml", MANIFEST.format(i=2, vmid=102).replace("web-2", "zz"))
    with pytest.raises(ManifestError) as raised:
        workspace_manifests(ctx(workspace))
    assert parsed == ["zz.yaml"]
    message = str(raised.value)
    vmid = "resources/vms/zz.yaml:4:7: vmid: VMID 102 is already used by vm/web-2 (resources/vms/web-2.yaml:4:7)"
    mac = "resources/vms/zz.yaml:10:7: spec.networks[0]: MAC address BC:24:11:00:00:02 is also used by vm/web-2"
    assert vmid in message
    assert mac in message


def test_a_file_with_a_secret_looking_key_is_never_stored(workspace, parsed):
    secret = MANIFEST.format(i=4, vmid=104) + "  config:\n    password: hunter2-in-a-manifest\n"
    write(resources_dir(workspace) / "vms" / "web-4.yaml", secret)
    workspace_manifests(ctx(workspace))
    parsed.clear()
    workspace_manifests(ctx(workspace))
    assert parsed == ["web-4.yaml"]
    assert b"hunter2-in-a-manifest" not in (workspace / ".pmpc" / "state.db").read_bytes()


def test_small_workspaces_and_missing_stores_parse_as_before(workspace, parsed, monkeypatch):
    monkeypatch.setattr(manifest_cache, "CACHE_MIN_FILES", COUNT + 1)
    workspace_manifests(ctx(workspace))
    workspace_manifests(ctx(workspace))
    assert len(parsed) == 2 * COUNT
    monkeypatch.setattr(manifest_cache, "CACHE_MIN_FILES", 1)
    for name in os.listdir(workspace / ".pmpc"):
        (workspace / ".pmpc" / name).unlink()
    parsed.clear()
    workspace_manifests(ctx(workspace))
    workspace_manifests(ctx(workspace))
    assert len(parsed) == 2 * COUNT
    assert not (workspace / ".pmpc" / "state.db").exists()


def test_positions_are_read_again_from_the_file_only_when_an_error_needs_them(tmp_path):
    second = MANIFEST.format(i=2, vmid=102).replace("  cores", "  # x\n  cores")
    text = MANIFEST.format(i=1, vmid=101) + "---\n---\n" + second  # an empty document between the two
    path = tmp_path / "two.yaml"
    path.write_text(text, encoding="utf-8")
    parsed, problems = manifests.parse_text(text, str(path))
    assert problems == [] and len(parsed) == 2
    for index, item in enumerate(parsed):
        again = manifests.positions(str(path), index)
        assert again is not None
        assert (again.marks, again.keys) == (item.source.marks, item.source.keys)
    assert manifests.positions(str(path), 2) is None
    assert manifests.positions(str(tmp_path / "gone.yaml"), 0) is None
    source = manifest_cache.CachedSource("shown.yaml", 16, 1, str(tmp_path / "gone.yaml"), 0)
    assert str(source.problem(("spec", "cores"), "bad")) == "shown.yaml:16:1: spec.cores: bad"
