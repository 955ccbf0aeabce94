"""Write files without following a symlink, never outside their root, and never half-written.

`write_file(path, data, root=ROOT)` walks from ROOT (the directory the user chose: a workspace,
an output directory, the parent of an `--out` file) to the file one directory at a time, each
opened with O_NOFOLLOW relative to the one before, so no symlink, `..` or race can lead it
elsewhere. The data goes to a new temporary (O_CREAT | O_EXCL | O_NOFOLLOW) in the file's own
directory, is fsync'ed and renamed over the file: a reader sees the old file or the new one,
never a partial or empty one, and a failed write (disk full, read-only file system) leaves
nothing behind. A symlink in the way is refused with its name (UnsafePathError, exit 1).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
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
