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


def _flush(written: Sequence[tuple[int, str, str, Path]]) -> None:
    """Make the data of the written temporaries durable before any is renamed over its file."""
    syncfs = _syncfs()
    devices: dict[int, int] = {}
    for dir_fd in {dir_fd for dir_fd, _, _, _ in written}:
        devices.setdefault(os.fstat(dir_fd).st_dev, dir_fd)
    if syncfs is not None and all(syncfs(fd) == 0 for fd in devices.values()):
        return
    for dir_fd, tmp, _, _ in written:  # no syncfs (or it failed): one fsync per temporary
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
    batch: list[tuple[Path, tuple[str, ...], bytes]] = []
    dirs: set[tuple[str, ...]] = set()
    below = _below(root)
    for path, data in items:
        if not isinstance(path, Path):
            path = Path(path)
        try:
            parts = below(path)
        except UnsafePathError as exc:
            refused.append((path, exc))
            continue
        if parts[:-1] not in dirs and len(dirs) >= _MAX_OPEN_DIRS:
            refused += _write_batch(batch, root, private)
            batch, dirs = [], set()
        dirs.add(parts[:-1])
        batch.append((path, parts, data.encode("utf-8") if isinstance(data, str) else bytes(data)))
    refused += _write_batch(batch, root, private)
    return refused


def _write_batch(
    batch: Sequence[tuple[Path, tuple[str, ...], bytes]], root: Path, private: bool
) -> list[tuple[Path, UnsafePathError]]:
    refused: list[tuple[Path, UnsafePathError]] = []
    dir_fds: dict[tuple[str, ...], int] = {}
    # Each directory's names (lower-cased) when it was opened: an ASCII name it did not hold, in any case
    # (some file systems ignore case), cannot be a link in the way; any other name is looked at itself.
    listed: dict[tuple[str, ...], set[str] | None] = {}
    written: list[tuple[int, str, str, Path]] = []  # (directory, temporary, name, path)
    renamed = 0
    path = Path(root)
    mode = 0o600 if private else 0o666
    temporaries = _Temporaries()
    writeback = _Writeback()
    try:
        try:
            for path, parts, payload in batch:
                where = parts[:-1]
                dir_fd, name = dir_fds.get(where), parts[-1]
                try:
                    if dir_fd is None:
                        dir_fd = _open_dir(Path(root), where, create=True, private=private)
                        assert dir_fd is not None  # created above
                        dir_fds[where] = dir_fd
                        listed[where] = _names(dir_fd)
                    names = listed[where]
                    if names is None or not name.isascii() or name.lower() in names:
                        _refuse_link(name, dir_fd, path)
                except UnsafePathError as exc:
                    refused.append((path, exc))
                    continue
                tmp, fd = temporaries.create(name, dir_fd, mode)
                written.append((dir_fd, tmp, name, path))
                try:
                    _write_all(fd, payload)
                finally:
                    os.close(fd)
                writeback.written(dir_fd)
            writeback.wait()
            _flush(written)
            for dir_fd, tmp, name, target in written:
                path = target
                os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                renamed += 1
            for dir_fd in dir_fds.values():
                try:
                    os.fsync(dir_fd)
                except OSError:  # pragma: no cover - some file systems cannot sync a directory
                    pass
        except BaseException:
            for dir_fd, tmp, _, _ in written[renamed:]:
                try:
                    os.unlink(tmp, dir_fd=dir_fd)
                except OSError:
                    pass
            raise
        finally:
            writeback.wait()
            for dir_fd in dir_fds.values():
                os.close(dir_fd)
    except OSError as exc:
        reason = _reason(exc)
        raise FileWriteError(f"Cannot write {path}: {reason}.", details={"path": str(path), "reason": reason}) from exc
    return refused


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
