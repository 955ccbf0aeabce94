"""Safe writes with real files: no symlink followed, nothing outside the root, no partial file.

A full disk and a read-only file system are simulated at the one call that would hit them
(`safeio.files._os_write` raising ENOSPC or EROFS): tests cannot mount a small tmpfs or a
read-only bind without privileges, and root ignores chmod. Everything else here is real.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from proxmox_mpc.errors import ExitCode, FileWriteError, UnsafePathError
from proxmox_mpc.safeio import files
from proxmox_mpc.safeio.files import StagedFiles, make_dirs, remove_file, write_file, write_files

SECRET = "untouched outside text\n"


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory outside tmp_path holding one file that no write may change."""
    directory = tmp_path_factory.mktemp("outside")
    (directory / "file.txt").write_text(SECRET, encoding="utf-8")
    return directory


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith(".pmpc-tmp"))


def link_final(root: Path, outside: Path) -> Path:
    (root / "out.tf").symlink_to(outside / "file.txt")
    return root / "out.tf"


def link_parent(root: Path, outside: Path) -> Path:
    (root / "sub").symlink_to(outside, target_is_directory=True)
    return root / "sub" / "out.tf"


def link_deep_parent(root: Path, outside: Path) -> Path:
    (root / "a").mkdir()
    (root / "a" / "b").symlink_to(outside, target_is_directory=True)
    return root / "a" / "b" / "c" / "out.tf"


def dot_dot(root: Path, outside: Path) -> Path:
    return root / ".." / outside.name / "file.txt"


REFUSED: list[tuple[str, Callable[[Path, Path], Path], str]] = [
    ("final-component-symlink", link_final, "symbolic link"),
    ("parent-symlink", link_parent, "symbolic link"),
    ("deep-parent-symlink", link_deep_parent, "symbolic link"),
    ("dot-dot-escape", dot_dot, "outside"),
]


@pytest.mark.parametrize(("make", "said"), [(m, s) for _, m, s in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_a_symlink_or_escape_is_refused_and_the_outside_is_untouched(tmp_path, outside, make, said):
    root = tmp_path / "root"
    root.mkdir()
    target = make(root, outside)
    with pytest.raises(FileWriteError) as caught:
        write_file(target, "new text\n", root=root)
    assert said in caught.value.message and caught.value.exit_code == ExitCode.ERROR
    assert "\n" not in caught.value.message
    assert (outside / "file.txt").read_text(encoding="utf-8") == SECRET
    assert sorted(p.name for p in outside.iterdir()) == ["file.txt"]
    assert _leftovers(root) == []


def test_a_planted_temporary_symlink_is_never_written_through(tmp_path, outside):
    """A repository may commit `terraform/.vms.tf.pmpc-tmp -> elsewhere`: the temporary is a new file."""
    root = tmp_path / "terraform"
    root.mkdir()
    (root / ".vms.tf.pmpc-tmp").symlink_to(outside / "file.txt")
    write_file(root / "vms.tf", "resource {}\n", root=root)
    assert (root / "vms.tf").read_text(encoding="utf-8") == "resource {}\n"
    assert not (root / "vms.tf").is_symlink()
    assert (outside / "file.txt").read_text(encoding="utf-8") == SECRET


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "No space left on device"),
        (errno.EROFS, "Read-only file system"),
        (errno.EIO, "Input/output error"),
    ],
    ids=["disk-full", "read-only", "io-error"],
)
@pytest.mark.parametrize("existing", [True, False], ids=["replace", "create"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, code, words, existing):
    target = tmp_path / "dir" / "vms.tf"
    if existing:
        write_file(target, "old\n", root=tmp_path)

    def failing_write(fd: int, data: bytes) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files, "_os_write", failing_write)
    with pytest.raises(FileWriteError) as caught:
        write_file(target, "new\n" * 1000, root=tmp_path)
    assert words in caught.value.message and str(target) in caught.value.message
    assert _leftovers(tmp_path) == []
    if existing:
        assert target.read_text(encoding="utf-8") == "old\n"
    else:
        assert not target.exists()


def test_a_short_write_is_completed(tmp_path, monkeypatch):
    real = os.write
    monkeypatch.setattr(files, "_os_write", lambda fd, data: real(fd, bytes(data[:3])))
    write_file(tmp_path / "f.txt", "abcdefghij", root=tmp_path)
    assert (tmp_path / "f.txt").read_text(encoding="utf-8") == "abcdefghij"


def test_private_files_and_their_new_directories_are_owner_only(tmp_path):
    write_file(tmp_path / "new" / "config.yaml", "secret: x\n", private=True, root=tmp_path)
    assert stat.S_IMODE((tmp_path / "new" / "config.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_a_directory_in_the_way_is_one_sentence(tmp_path):
    (tmp_path / "vms.tf").mkdir()
    with pytest.raises(FileWriteError, match="is a directory"):
        write_file(tmp_path / "vms.tf", "x", root=tmp_path)


def test_remove_and_make_dirs_follow_no_symlink(tmp_path, outside):
    (tmp_path / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(FileWriteError, match="symbolic link"):
        remove_file(tmp_path / "link" / "file.txt", root=tmp_path)
    with pytest.raises(FileWriteError, match="symbolic link"):
        make_dirs(tmp_path / "link" / "new", root=tmp_path)
    assert sorted(p.name for p in outside.iterdir()) == ["file.txt"]
    remove_file(tmp_path / "missing" / "file.txt", root=tmp_path)
    make_dirs(tmp_path / "x" / "y", root=tmp_path)
    assert (tmp_path / "x" / "y").is_dir()


# ----------------------------------------------------------------------------- many files at once


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync-each"])
def test_write_files_writes_every_file_in_every_directory(tmp_path, monkeypatch, syncfs):
    if not syncfs:
        files._syncfs.cache_clear()
        monkeypatch.setattr(files, "_syncfs", lambda: None)
    monkeypatch.setattr(files, "_MAX_OPEN_DIRS", 2)  # three directories: two batches
    write_file(tmp_path / "vms" / "a.yaml", "old\n", root=tmp_path)
    wanted = {tmp_path / d / f"{n}.yaml": f"{d} {n}\n" for d in ("vms", "cts", "pools") for n in ("a", "b")}
    assert write_files(list(wanted.items()), root=tmp_path) == []
    assert {p: p.read_text(encoding="utf-8") for p in wanted} == wanted
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(("make", "said"), [(m, s) for _, m, s in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_write_files_refuses_one_unsafe_file_and_writes_the_others(tmp_path, outside, make, said):
    bad = make(tmp_path, outside)
    refused = write_files([(tmp_path / "x.tf", "x\n"), (bad, "evil\n"), (tmp_path / "y.tf", "y\n")], root=tmp_path)
    assert [path for path, _ in refused] == [bad] and said in refused[0][1].message
    assert (tmp_path / "x.tf").read_text(encoding="utf-8") == "x\n"
    assert (tmp_path / "y.tf").read_text(encoding="utf-8") == "y\n"
    assert (outside / "file.txt").read_text(encoding="utf-8") == SECRET
    assert sorted(p.name for p in outside.iterdir()) == ["file.txt"]


def test_write_files_renames_nothing_before_the_last_flush_has_seen_every_temporary(tmp_path, monkeypatch):
    seen: list[tuple[int, int]] = []  # (temporaries, final files) in the directory at each syncfs

    def syncfs(fd: int) -> int:
        names = os.listdir(fd)
        seen.append((sum(n.endswith(".pmpc-tmp") for n in names), sum(n.endswith(".yaml") for n in names)))
        return 0

    monkeypatch.setattr(files, "_syncfs", lambda: syncfs)
    monkeypatch.setattr(files._Writeback, "EVERY", 2)  # head starts while the batch is still being written
    wanted = {tmp_path / f"g{n}.yaml": f"guest {n}\n" for n in range(9)}
    assert write_files(list(wanted.items()), root=tmp_path) == []
    assert {p: p.read_text(encoding="utf-8") for p in wanted} == wanted
    assert len(seen) >= 2 and seen[-1] == (9, 0)  # head starts, then the flush of all nine, none renamed yet
    assert all(finals == 0 for _, finals in seen) and _leftovers(tmp_path) == []


def test_write_files_passes_over_a_temporary_name_someone_else_holds(tmp_path, monkeypatch):
    tokens = iter(["0000aaaa", "0000bbbb"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(tokens))
    squatter = tmp_path / ".a.tf.0000aaaa1.pmpc-tmp"
    squatter.write_text("not ours\n", encoding="utf-8")
    assert write_files([(tmp_path / "a.tf", "a\n"), (tmp_path / "b.tf", "b\n")], root=tmp_path) == []
    assert (tmp_path / "a.tf").read_text(encoding="utf-8") == "a\n"
    assert (tmp_path / "b.tf").read_text(encoding="utf-8") == "b\n"
    assert squatter.read_text(encoding="utf-8") == "not ours\n"
    assert _leftovers(tmp_path) == [squatter.name]


def test_write_files_that_fail_leave_the_old_files_and_no_temporary(tmp_path, monkeypatch):
    write_file(tmp_path / "a.tf", "old a\n", root=tmp_path)
    real = os.write
    calls = []

    def full_on_the_second(fd: int, data: bytes) -> int:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(files, "_os_write", full_on_the_second)
    with pytest.raises(FileWriteError) as caught:
        write_files([(tmp_path / "a.tf", "new a\n"), (tmp_path / "b.tf", "new b\n")], root=tmp_path)
    assert "No space left on device" in caught.value.message and "b.tf" in caught.value.message
    assert (tmp_path / "a.tf").read_text(encoding="utf-8") == "old a\n"  # nothing renamed before all were written
    assert not (tmp_path / "b.tf").exists()
    assert _leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- files written ahead


def test_staged_files_are_renamed_only_when_committed_and_the_others_are_removed(tmp_path):
    write_file(tmp_path / "vms" / "a.yaml", "old a\n", root=tmp_path)
    staged = StagedFiles(tmp_path)
    a = staged.stage(tmp_path / "vms", "new a\n")
    unused = staged.stage(tmp_path / "vms", "never written\n")
    b = staged.stage(tmp_path / "cts", b"b\n")
    assert len(_leftovers(tmp_path)) == 3 and (tmp_path / "vms" / "a.yaml").read_text(encoding="utf-8") == "old a\n"
    assert unused not in (a, b)
    assert staged.commit([(a, tmp_path / "vms" / "a.yaml"), (b, tmp_path / "cts" / "b.yaml")]) == []
    assert (tmp_path / "vms" / "a.yaml").read_text(encoding="utf-8") == "new a\n"
    assert (tmp_path / "cts" / "b.yaml").read_text(encoding="utf-8") == "b\n"
    assert sorted(p.name for p in (tmp_path / "vms").iterdir()) == ["a.yaml"] and _leftovers(tmp_path) == []
    staged.discard()  # harmless after a commit
    assert (tmp_path / "cts" / "b.yaml").exists()


def test_staged_files_discarded_leave_nothing_not_even_the_directories_they_made(tmp_path):
    (tmp_path / "vms").mkdir()
    staged = StagedFiles(tmp_path)
    staged.stage(tmp_path / "vms", "a\n")
    staged.stage(tmp_path / "resources" / "cts", "b\n")
    assert (tmp_path / "resources" / "cts").is_dir() and len(_leftovers(tmp_path)) == 2
    staged.discard()
    assert not (tmp_path / "resources").exists() and _leftovers(tmp_path) == []
    assert (tmp_path / "vms").is_dir()  # the folder that was there stays


@pytest.mark.parametrize(("make", "said"), [(m, s) for _, m, s in REFUSED[:1]], ids=[i for i, _, _ in REFUSED[:1]])
def test_a_staged_file_with_a_link_in_its_way_is_refused_at_commit(tmp_path, outside, make, said):
    bad = make(tmp_path, outside)
    staged = StagedFiles(tmp_path)
    evil, fine = staged.stage(tmp_path, "evil\n"), staged.stage(tmp_path, "fine\n")
    refused = staged.commit([(evil, bad), (fine, tmp_path / "fine.tf")])
    assert [path for path, _ in refused] == [bad] and said in refused[0][1].message
    assert (tmp_path / "fine.tf").read_text(encoding="utf-8") == "fine\n"
    assert (outside / "file.txt").read_text(encoding="utf-8") == SECRET and _leftovers(tmp_path) == []


def test_staging_below_a_link_or_outside_the_root_is_refused(tmp_path, outside):
    (tmp_path / "sub").symlink_to(outside, target_is_directory=True)
    staged = StagedFiles(tmp_path)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        staged.stage(tmp_path / "sub", "evil\n")
    with pytest.raises(UnsafePathError, match="outside"):
        staged.stage(outside, "evil\n")
    staged.discard()
    assert sorted(p.name for p in outside.iterdir()) == ["file.txt"]


def test_a_staged_write_that_fails_leaves_no_temporary(tmp_path, monkeypatch):
    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    staged = StagedFiles(tmp_path)
    kept = staged.stage(tmp_path / "vms", "a\n")
    monkeypatch.setattr(files, "_os_write", full)
    with pytest.raises(FileWriteError, match="No space left on device"):
        staged.stage(tmp_path / "vms", "b\n")
    monkeypatch.undo()
    assert staged.commit([(kept, tmp_path / "vms" / "a.yaml")]) == []
    assert sorted(p.name for p in (tmp_path / "vms").iterdir()) == ["a.yaml"]


def _stage_named(staged: StagedFiles, where: tuple[str, ...], names: list[str]) -> list[int]:
    return [staged.stage_at(where, f"{name} {n}\n", shown=Path(*where), name=name) for n, name in enumerate(names)]


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync-each"])
def test_a_new_directory_is_staged_as_a_hidden_twin_and_appears_whole_at_commit(tmp_path, monkeypatch, syncfs):
    if not syncfs:
        files._syncfs.cache_clear()
        monkeypatch.setattr(files, "_syncfs", lambda: None)
    staged = StagedFiles(tmp_path)
    a, b, same, unused = _stage_named(staged, ("resources", "vms"), ["a.yaml", "b.yaml", "a.yaml", "c.yaml"])
    assert not (tmp_path / "resources" / "vms").exists()  # nothing shows before the commit
    assert [p.name.startswith(".vms.") for p in (tmp_path / "resources").iterdir()] == [True]
    vms = tmp_path / "resources" / "vms"
    assert staged.commit([(a, vms / "a.yaml"), (b, vms / "b-102.yaml"), (same, vms / "a-103.yaml")]) == []
    assert {p.name: p.read_text(encoding="utf-8") for p in vms.iterdir()} == {
        "a.yaml": "a.yaml 0\n",
        "b-102.yaml": "b.yaml 1\n",
        "a-103.yaml": "a.yaml 2\n",
    }
    assert [p.name for p in (tmp_path / "resources").iterdir()] == ["vms"] and unused not in (a, b, same)


def test_a_directory_that_appears_while_staged_gets_the_files_one_by_one(tmp_path):
    staged = StagedFiles(tmp_path)
    a, b = _stage_named(staged, ("vms",), ["a.yaml", "b.yaml"])
    write_file(tmp_path / "vms" / "mine.yaml", "mine\n", root=tmp_path)
    assert staged.commit([(a, tmp_path / "vms" / "a.yaml"), (b, tmp_path / "vms" / "b.yaml")]) == []
    assert sorted(p.name for p in (tmp_path / "vms").iterdir()) == ["a.yaml", "b.yaml", "mine.yaml"]
    assert (tmp_path / "vms" / "mine.yaml").read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_directory_that_appears_as_a_link_while_staged_refuses_its_files(tmp_path, outside):
    staged = StagedFiles(tmp_path)
    (a,) = _stage_named(staged, ("vms",), ["file.txt"])
    (tmp_path / "vms").symlink_to(outside, target_is_directory=True)
    refused = staged.commit([(a, tmp_path / "vms" / "file.txt")])
    assert [path for path, _ in refused] == [tmp_path / "vms" / "file.txt"] and "symbolic link" in refused[0][1].message
    assert sorted(p.name for p in outside.iterdir()) == ["file.txt"]
    assert (outside / "file.txt").read_text(encoding="utf-8") == SECRET
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_an_empty_directory_is_replaced_by_its_twin_with_its_permissions(tmp_path):
    vms = tmp_path / "vms"
    vms.mkdir()
    vms.chmod(0o750)
    staged = StagedFiles(tmp_path)
    (a,) = _stage_named(staged, ("vms",), ["a.yaml"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".vms.")] != []
    assert staged.commit([(a, vms / "a.yaml")]) == []
    assert [p.name for p in vms.iterdir()] == ["a.yaml"] and stat.S_IMODE(vms.stat().st_mode) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_the_working_directory_is_written_into_not_replaced(tmp_path, monkeypatch):
    vms = tmp_path / "vms"
    vms.mkdir()
    inode = vms.stat().st_ino
    monkeypatch.chdir(vms)
    staged = StagedFiles(tmp_path)
    (a,) = _stage_named(staged, ("vms",), ["a.yaml"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no twin
    assert staged.commit([(a, vms / "a.yaml")]) == []
    assert [p.name for p in vms.iterdir()] == ["a.yaml"] and vms.stat().st_ino == inode


def test_a_directory_its_twin_cannot_replace_gets_the_files_one_by_one(tmp_path, monkeypatch):
    vms = tmp_path / "vms"
    vms.mkdir()
    inode = vms.stat().st_ino
    real = os.rename

    def busy(src: str, dst: str, **kwargs: int) -> None:
        if dst == "vms":  # a mount point, say
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))
        real(src, dst, **kwargs)

    staged = StagedFiles(tmp_path)
    a, b = _stage_named(staged, ("vms",), ["a.yaml", "b.yaml"])
    monkeypatch.setattr(files.os, "rename", busy)
    assert staged.commit([(a, vms / "a.yaml"), (b, vms / "b.yaml")]) == []
    assert sorted(p.name for p in vms.iterdir()) == ["a.yaml", "b.yaml"] and vms.stat().st_ino == inode
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_discarded_twin_leaves_nothing(tmp_path):
    staged = StagedFiles(tmp_path)
    _stage_named(staged, ("resources", "vms"), ["a.yaml", "b.yaml"])
    staged.discard()
    assert not (tmp_path / "resources").exists()


@pytest.mark.parametrize(
    "relative",
    ["a.yaml", "vms/a.yaml", "vms/../cts/a.yaml", "./vms//a.yaml", "vms/./a.yaml", "", ".", "..", "../root2/a.yaml",
     "../x.yaml", "vms/../../root/a.yaml"],
)  # fmt: skip
def test_the_paths_of_many_files_are_split_as_one_file_is(tmp_path, relative):
    root = tmp_path / "root"
    below = files._below(root)
    for path in (root / relative, Path(os.path.relpath(root, Path.cwd())) / relative):
        try:
            expected: object = files._parts(path, root)
        except UnsafePathError as exc:
            expected = exc.message
        try:
            got: object = below(path)
        except UnsafePathError as exc:
            got = exc.message
        assert got == expected
