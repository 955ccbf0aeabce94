"""Write files without following a symlink, never outside their root, and never half-written.

`write_file(path, data, root=ROOT)` walks from ROOT (the directory the user chose: a workspace,
an output directory, the parent of an `--out` file) to the file one directory at a time, each
opened with O_NOFOLLOW relative to the one before, so no symlink, `..` or race can lead it
elsewhere. The data goes to a new temporary (O_CREAT | O_EXCL | O_NOFOLLOW) in the file's own
directory, is fsync'ed and renamed over the file: a reader sees the old file or the new one,
never a partial or empty one, and a failed write (disk full, read-only file system) leaves
nothing behind. A symlink in the way is refused with its name (UnsafePathError, exit 1).

`write_files(items, root=ROOT)` writes many files with the same guarantees at the cost of a few syncs
instead of two per file (`sync --import` of 10,000 guests, `generate`): every temporary is written (a thread
starts the file system's writeback meanwhile), then their data is flushed at once (syncfs on Linux, else each
temporary is fsync'ed), and only then is each
renamed over its file; each directory is fsync'ed once at the end. A reader or a crash still sees a file
old or new, never partial; a failed write leaves nothing behind and renames nothing.
"""

from __future__ import annotations

import errno
import functools
import os
import secrets
import stat
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from proxmox_mpc.errors import FileWriteError, UnsafePathError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TMP_SUFFIX = ".pmpc-tmp"

# The fault-injection seam: tests replace it to simulate a full disk (ENOSPC) or a read-only
# file system (EROFS) at the very call that would hit them.
_os_write = os.write


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _parts(path: Path, root: Path) -> tuple[str, ...]:
    absolute = Path(os.path.abspath(path))
    base = Path(os.path.abspath(root))
    try:
        parts = absolute.relative_to(base).parts
    except ValueError:
        raise UnsafePathError(f"Refusing to write {path}: it lies outside {root}.") from None
    if not parts:
        raise UnsafePathError(f"Refusing to write {path}: it is the directory {root} itself.")
    return parts


def _below(root: Path) -> Callable[[Path], tuple[str, ...]]:
    """Return `_parts` for many paths below one root: plain string work for the usual absolute POSIX paths."""
    base = os.path.abspath(root)
    if os.sep != "/" or os.altsep or base.startswith("//"):
        return functools.partial(_parts, root=root)
    prefix = base if base == "/" else base + "/"

    def parts(path: Path) -> tuple[str, ...]:
        absolute = os.path.abspath(path)
        if len(absolute) > len(prefix) and absolute.startswith(prefix) and not absolute.startswith("//"):
            return tuple(absolute[len(prefix) :].split("/"))
        return _parts(path, root)

    return parts


def _refuse_link(name: str, dir_fd: int, shown: Path) -> None:
    """Raise when `name` in `dir_fd` is a symlink (or, for a file to write, a directory)."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(f"Refusing to write through the symbolic link {shown}.")
    if stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(f"Cannot write {shown}: it is a directory.")


def _open_dir(root: Path, parts: tuple[str, ...], *, create: bool, private: bool) -> int | None:
    """Return a descriptor of root/parts..., walked without following symlinks (None: missing)."""
    if create:
        os.makedirs(root, mode=0o700 if private else 0o777, exist_ok=True)
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        if create:
            raise
        return None
    shown = root
    try:
        for name in parts:
            shown = shown / name
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    os.close(fd)
                    return None
                try:
                    os.mkdir(name, 0o700 if private else 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    _refuse_link(name, fd, shown)
                    raise UnsafePathError(f"Cannot write below {shown}: it is not a directory.") from exc
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = _os_write(fd, view)
        view = view[written:]


def write_file(path: Path, data: str | bytes, *, root: Path | None = None, private: bool = False) -> None:
    """Write `data` to `path` atomically, below `root` (default: its own directory), following no symlink.

    `private` creates the file (and missing directories) readable by the owner only (0600/0700).

    Raises:
        FileWriteError: a symlink is in the way, the path leaves `root`, or the write failed
            (disk full, read-only file system, permission denied); nothing was left behind.
    """
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    parts = _parts(path, root)
    name = parts[-1]
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    tmp = f".{name[:180]}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
    try:
        dir_fd = _open_dir(root, parts[:-1], create=True, private=private)
        assert dir_fd is not None  # created above
        try:
            _refuse_link(name, dir_fd, path)
            fd = os.open(tmp, _NEW_FILE_FLAGS, 0o600 if private else 0o666, dir_fd=dir_fd)
            try:
                try:
                    _write_all(fd, payload)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=dir_fd)
                except OSError:
                    pass
                raise
            try:
                os.fsync(dir_fd)
            except OSError:  # pragma: no cover - some file systems cannot sync a directory
                pass
        finally:
            os.close(dir_fd)
    except OSError as exc:
        reason = _reason(exc)
        raise FileWriteError(f"Cannot write {path}: {reason}.", details={"path": str(path), "reason": reason}) from exc


# At most this many directories are held open by one batch of write_files (it then writes what it has).
_MAX_OPEN_DIRS = 64


@functools.lru_cache(maxsize=1)
def _syncfs() -> Callable[[int], int] | None:
    """Return the C library's syncfs (flush one file system's dirty data), or None where there is none."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return function


def _flush(written: Sequence[tuple[int, str]]) -> None:
    """Make the data of the written temporaries (directory, name) durable before any is renamed over its file."""
    syncfs = _syncfs()
    devices: dict[int, int] = {}
    for dir_fd in {dir_fd for dir_fd, _ in written}:
        devices.setdefault(os.fstat(dir_fd).st_dev, dir_fd)
    if syncfs is not None and all(syncfs(fd) == 0 for fd in devices.values()):
        return
    for dir_fd, tmp in written:  # no syncfs (or it failed): one fsync per temporary
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_files(
    items: Sequence[tuple[Path, str | bytes]], *, root: Path, private: bool = False
) -> list[tuple[Path, UnsafePathError]]:
    """Write many files below `root` as write_file does, syncing once per batch rather than twice per file.

    A file with a symlink in its way (or outside `root`) is not written: it is returned with its error,
    the others are written.

    Raises:
        FileWriteError: a write failed (disk full, read-only file system, permission denied): no temporary
            is left behind and the files of the batch that failed keep their old content.
    """
    refused: list[tuple[Path, UnsafePathError]] = []
    batch: list[tuple[str | bytes, Path]] = []
    dirs: set[str] = set()
    for path, data in items:
        path = path if isinstance(path, Path) else Path(path)
        directory = os.path.dirname(path)
        if directory not in dirs and len(dirs) >= _MAX_OPEN_DIRS:
            refused += StagedFiles(root, private=private).finish(batch)
            batch, dirs = [], set()
        dirs.add(directory)
        batch.append((data, path))
    return refused + StagedFiles(root, private=private).finish(batch)


# A staged file to commit: (ticket, its directory's descriptor, its name there now, its file's name, its path).
_Move = tuple[int, int, str, str, Path]


class StagedFiles:
    """Files written ahead as temporaries below `root`, renamed over their files at once later (or removed).

    `stage(directory, data)` writes `data` to a new temporary in `directory` (created when missing, walked
    from `root` without following a symlink) and returns its ticket; `commit([(ticket, path), ...])` then
    gives each ticket's data its file in that directory with write_files' guarantees: every temporary's data
    is flushed before any is renamed, a file with a symlink (or a directory) in its way is refused and
    returned, each directory is synced once. Temporaries never committed are removed by `commit` and by
    `discard` (call it when the files are not wanted after all; it is harmless after a commit), and so are
    the directories staging created that end up empty. Writing ahead lets a caller write while it waits for
    something else (`sync --import` stages each manifest while the other configs are being read).
    """

    def __init__(self, root: Path, *, private: bool = False) -> None:
        self.root = Path(root)
        self._private = private
        self._mode = 0o600 if private else 0o666
        self._below = _below(self.root)
        self._dir_fds: dict[tuple[str, ...], int] = {}
        self._created: list[tuple[str, ...]] = []  # directories staging made, to remove again when left empty
        # Each temporary: (directory, its descriptor, temporary name); None once renamed or removed.
        self._written: list[tuple[tuple[str, ...], int, str] | None] = []
        self._temporaries = _Temporaries()
        self._writeback = _Writeback()
        # A directory that did not exist, staged into as a hidden twin: (its parent's descriptor, the twin's name).
        self._twins: dict[tuple[str, ...], tuple[int, str]] = {}

    def stage(self, directory: Path, data: str | bytes) -> int:
        """Write `data` to a new temporary in `directory`; return its ticket for `commit`.

        Raises:
            UnsafePathError: `directory` leaves `root` or a symlink (or a file) is in its way.
            FileWriteError: the write failed; nothing of this temporary is left.
        """
        directory = Path(directory)
        if os.path.abspath(directory) == os.path.abspath(self.root):
            return self.stage_at((), data, shown=directory)
        return self.stage_at(self._below(directory), data, shown=directory)

    def stage_at(self, where: tuple[str, ...], data: str | bytes, *, shown: Path, name: str | None = None) -> int:
        """`stage` into the directory root/where... (`shown` names what is written in an error).

        `name` is the file's likely name. Given one, a directory that does not exist yet (or is empty) is not
        written into: its files are written under their names into a hidden twin of it
        (`.NAME.TOKEN.pmpc-tmp`, with the empty directory's permissions), which `commit` renames into place
        whole (over the empty directory), one rename rather than one per file; the files appear all at
        once. Should the directory have gained files by then, each file is moved into it instead.
        """
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        try:
            dir_fd = self._dir_fds.get(where)
            if dir_fd is None:
                dir_fd = self._open(where, twin=name is not None)
            fd = -1
            if name is not None and where in self._twins and _plain_name(name):
                try:
                    tmp, fd = name, os.open(name, _NEW_FILE_FLAGS, self._mode, dir_fd=dir_fd)
                except FileExistsError:
                    pass  # two files of one likely name: this one gets a temporary
            if fd < 0:
                tmp, fd = self._temporaries.create(shown.name, dir_fd, self._mode)
            try:
                self._written.append((where, dir_fd, tmp))
                _write_all(fd, payload)
            finally:
                os.close(fd)
        except OSError as exc:
            raise _write_error(shown, exc) from exc
        self._writeback.written(dir_fd)
        return len(self._written) - 1

    def _open(self, where: tuple[str, ...], *, twin: bool = False) -> int:
        dir_fd = _open_dir(self.root, where, create=False, private=self._private) if where else None
        if twin and where and (dir_fd is None or _replaceable(dir_fd)):
            mode = 0o700 if self._private else 0o777
            if dir_fd is not None:  # an empty directory: its twin takes its place, and its permissions
                mode = stat.S_IMODE(os.fstat(dir_fd).st_mode)
                os.close(dir_fd)
            parent = self._dir_fds.get(where[:-1])
            if parent is None:
                parent = self._open(where[:-1])
            hidden = f".{where[-1][:180]}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
            os.mkdir(hidden, mode, dir_fd=parent)
            self._twins[where] = (parent, hidden)
            dir_fd = self._dir_fds[where] = os.open(hidden, _DIR_FLAGS, dir_fd=parent)
            os.fchmod(dir_fd, mode)  # as it was, whatever the umask
            return dir_fd
        if dir_fd is None:
            missing = [where[:n] for n in range(1, len(where) + 1)]
            missing = [part for part in missing if not os.path.lexists(os.path.join(self.root, *part))]
            dir_fd = _open_dir(self.root, where, create=True, private=self._private)
            assert dir_fd is not None  # created above
            self._created += [part for part in missing if part not in self._created]
        self._dir_fds[where] = dir_fd
        return dir_fd

    def commit(self, targets: Sequence[tuple[int, Path]]) -> list[tuple[Path, UnsafePathError]]:
        """Rename each ticket's temporary over its file (`path`, in the directory it was staged in); remove
        the other temporaries. Return the files refused (a symlink or a directory in the way).

        Raises:
            FileWriteError: the flush or a rename failed: no temporary is left behind, and no file was
                renamed unless its data had been flushed.
        """
        refused: list[tuple[Path, UnsafePathError]] = []
        # Each directory's names (lower-cased): an ASCII name it does not hold, in any case (some file
        # systems ignore case), cannot be a link in the way; any other name is looked at itself.
        listed: dict[int, set[str] | None] = {}
        renames: list[_Move] = []
        moves: dict[tuple[str, ...], list[_Move]] = {}  # the same, by twin
        for ticket, path in targets:
            entry = self._written[ticket]
            assert entry is not None  # each ticket is committed once
            where, dir_fd, tmp = entry
            name = os.path.basename(path)
            if where in self._twins:
                moves.setdefault(where, []).append((ticket, dir_fd, tmp, name, path))
                continue
            names = listed.get(dir_fd, set())
            if dir_fd not in listed:
                names = listed[dir_fd] = _names(dir_fd)
            try:
                if names is None or not name.isascii() or name.lower() in names:
                    _refuse_link(name, dir_fd, path)
            except UnsafePathError as exc:
                refused.append((path, exc))
                continue
            renames.append((ticket, dir_fd, tmp, name, path))
        path = self.root
        try:
            self._writeback.wait()
            twinned = self._name_in_twins(moves)
            _flush([(dir_fd, tmp) for _, dir_fd, tmp, _, _ in renames] + twinned)
            for ticket, dir_fd, tmp, name, target in renames:
                path = target
                os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                self._written[ticket] = None
            synced = {dir_fd for _, dir_fd, _, _, _ in renames}
            for where, moved in moves.items():
                path = moved[0][4].parent
                refused += self._place_twin(where, moved, synced)
            for dir_fd in synced:
                try:
                    os.fsync(dir_fd)
                except OSError:  # pragma: no cover - some file systems cannot sync a directory
                    pass
        except OSError as exc:
            raise _write_error(path, exc) from exc
        finally:
            self.discard()
        return refused

    def _name_in_twins(self, moves: dict[tuple[str, ...], list[_Move]]) -> list[tuple[int, str]]:
        """In each twin, remove the files not committed and give the others their names; return them all."""
        kept = {ticket for moved in moves.values() for ticket, _, _, _, _ in moved}
        for index, entry in enumerate(self._written):
            if entry is not None and entry[0] in self._twins and index not in kept:
                os.unlink(entry[2], dir_fd=entry[1])
                self._written[index] = None
        named: list[tuple[int, str]] = []
        for where, moved in moves.items():
            for position, (ticket, dir_fd, tmp, name, path) in enumerate(moved):
                if tmp != name:
                    os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                    self._written[ticket] = (where, dir_fd, name)
                    moved[position] = (ticket, dir_fd, name, name, path)
                named.append((dir_fd, name))
        return named

    def _place_twin(
        self, where: tuple[str, ...], moved: list[_Move], synced: set[int]
    ) -> list[tuple[Path, UnsafePathError]]:
        """Rename a twin into place as its directory; when that directory appeared meanwhile, move each file
        into it instead (a file with a link in its way, or the directory itself a link, is refused)."""
        parent, hidden = self._twins[where]
        twin_fd = self._dir_fds[where]
        os.fsync(twin_fd)
        try:
            os.rename(hidden, where[-1], src_dir_fd=parent, dst_dir_fd=parent)
        except OSError as exc:  # not empty any more, a link, a mount point...: the files go one by one
            return self._spread(where, moved, exc)
        del self._twins[where]
        for ticket, _, _, _, _ in moved:
            self._written[ticket] = None
        synced.add(parent)
        return []

    def _spread(
        self, where: tuple[str, ...], moved: list[_Move], failed: OSError
    ) -> list[tuple[Path, UnsafePathError]]:
        """Move each file of a twin into its directory, which the twin could not replace (`failed`)."""
        twin_fd = self._dir_fds[where]
        refused: list[tuple[Path, UnsafePathError]] = []
        try:
            target_fd = _open_dir(self.root, where, create=False, private=self._private)
        except UnsafePathError as exc:
            return [(path, exc) for _, _, _, _, path in moved]
        if target_fd is None:  # no directory to move them into: the rename's own error
            raise failed
        try:
            for ticket, _, name, _, path in moved:
                try:
                    _refuse_link(name, target_fd, path)
                except UnsafePathError as exc:
                    refused.append((path, exc))
                    continue
                os.rename(name, name, src_dir_fd=twin_fd, dst_dir_fd=target_fd)
                self._written[ticket] = None
            os.fsync(target_fd)
        finally:
            os.close(target_fd)
        return refused

    def finish(self, targets: Sequence[tuple[int | str | bytes, Path]]) -> list[tuple[Path, UnsafePathError]]:
        """`commit` where each target's data is a ticket, or the data itself, written now into its path's directory.

        A file with a symlink in its way (or outside `root`) is refused and returned; the others are written.
        """
        refused: list[tuple[Path, UnsafePathError]] = []
        tickets: list[tuple[int, Path]] = []
        try:
            for data, path in targets:
                if isinstance(data, int):
                    tickets.append((data, path))
                    continue
                try:
                    tickets.append((self.stage_at(self._below(path)[:-1], data, shown=path), path))
                except UnsafePathError as exc:
                    refused.append((path, exc))
            refused += self.commit(tickets)
        finally:
            self.discard()
        return refused

    def discard(self) -> None:
        """Remove every temporary not renamed yet (and the directories staging made, when left empty)."""
        self._writeback.wait()
        for index, entry in enumerate(self._written):
            if entry is not None:
                try:
                    os.unlink(entry[2], dir_fd=entry[1])
                except OSError:
                    pass
                self._written[index] = None
        for parent, hidden in self._twins.values():
            try:
                os.rmdir(hidden, dir_fd=parent)
            except OSError:
                pass
        self._twins.clear()
        for dir_fd in self._dir_fds.values():
            os.close(dir_fd)
        self._dir_fds.clear()
        for where in sorted(self._created, key=len, reverse=True):
            try:
                os.rmdir(os.path.join(self.root, *where))
            except OSError:
                pass  # not empty (files were renamed into it), or no longer there
        self._created.clear()


def _replaceable(dir_fd: int) -> bool:
    """Return True for an empty directory that is not this process's working directory (a twin may replace it)."""
    try:
        if os.listdir(dir_fd):
            return False
        here, there = os.stat("."), os.fstat(dir_fd)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) != (there.st_dev, there.st_ino)


def _plain_name(name: str) -> bool:
    """Return True for a file name that is one path component, not hidden and not a temporary's."""
    return bool(name) and "/" not in name and os.sep not in name and not name.startswith(".") and not name.endswith(
        _TMP_SUFFIX
    )


def _write_error(path: Path, exc: OSError) -> FileWriteError:
    reason = _reason(exc)
    return FileWriteError(f"Cannot write {path}: {reason}.", details={"path": str(path), "reason": reason})


class _Writeback:
    """Gives the flush a head start: while a batch's temporaries are being written, a thread has the file
    system write back what is written so far (syncfs blocks in the kernel without holding the interpreter's
    lock, so the writing goes on beside it). Only a head start: `_flush` still syncs everything written
    before any rename, and then finds little left to wait for."""

    EVERY = 512  # temporaries written between two looks at whether the last head start is done

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._count = 0

    def written(self, dir_fd: int) -> None:
        """Count one temporary written in `dir_fd`; start a writeback of its file system now and then."""
        self._count += 1
        if self._count % self.EVERY or (self._thread is not None and self._thread.is_alive()):
            return
        syncfs = _syncfs()
        if syncfs is not None:
            self._thread = threading.Thread(target=syncfs, args=(dir_fd,), name="pmpc-writeback", daemon=True)
            self._thread.start()

    def wait(self) -> None:
        """Wait for the writeback under way (its directory stays open until then)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _names(dir_fd: int) -> set[str] | None:
    """Return the names in the directory `dir_fd`, lower-cased (None: it cannot be listed, look at each name)."""
    try:
        return {name.lower() for name in os.listdir(dir_fd)}
    except OSError:
        return None


class _Temporaries:
    """New temporaries for a batch: one random token, then a counter (O_EXCL still refuses any name taken)."""

    def __init__(self) -> None:
        self._token = secrets.token_hex(4)
        self._count = 0

    def create(self, name: str, dir_fd: int, mode: int) -> tuple[str, int]:
        """Create a temporary for the file `name` in `dir_fd`; return its name and an open descriptor."""
        while True:
            self._count += 1
            tmp = f".{name[:180]}.{self._token}{self._count:x}{_TMP_SUFFIX}"
            try:
                return tmp, os.open(tmp, _NEW_FILE_FLAGS, mode, dir_fd=dir_fd)
            except FileExistsError:
                self._token = secrets.token_hex(4)  # someone else's name: start a new series


def remove_file(path: Path, *, root: Path) -> None:
    """Delete `path` below `root` without following a symlink on the way (missing: nothing to do).

    Raises:
        FileWriteError: a symlink is in the way or the deletion failed.
    """
    path = Path(path)
    parts = _parts(path, root)
    try:
        dir_fd = _open_dir(Path(root), parts[:-1], create=False, private=False)
        if dir_fd is None:
            return
        try:
            os.unlink(parts[-1], dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise FileWriteError(f"Cannot delete {path}: {_reason(exc)}.") from exc


def make_dirs(path: Path, *, root: Path) -> None:
    """Create the directory `path` below `root` (and its parents) without following a symlink.

    Raises:
        FileWriteError: a symlink or a file is in the way, or a directory cannot be created.
    """
    path = Path(path)
    parts = () if Path(os.path.abspath(path)) == Path(os.path.abspath(root)) else _parts(path, root)
    try:
        dir_fd = _open_dir(Path(root), parts, create=True, private=False)
        if dir_fd is not None:
            os.close(dir_fd)
    except OSError as exc:
        raise FileWriteError(f"Cannot create the directory {path}: {_reason(exc)}.") from exc


def is_inside(path: Path, root: Path) -> bool:
    """Return True when `path` is `root` or lies below it (lexically, after making both absolute)."""
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        return False
    return True
