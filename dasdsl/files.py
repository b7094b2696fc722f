"""The one place that reads small files a user hands over (.das files, JSON tables, a run's config and log):
a size limit, UTF-8 with or without a byte-order mark, and every failure a one-paragraph DasError; and the one
place that writes files (``write_atomic``, ``append_text``, ``make_folder``): a run directory someone hands
over is data, so no write follows a symbolic link out of it, and a full or read-only disk is a DasError that
names the file and leaves nothing half-written behind."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from dasdsl.errors import DasError, fail

LIMIT = 16 * 1024 * 1024  # bytes: far above any real .das file, table or log; /dev/zero ends here
NAME_MAX = 255  # bytes in one file name on the common file systems (ext4, XFS, APFS, NTFS in characters)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows, where creating a symbolic link needs privileges
_BINARY = getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def read_text(path: str | Path, what: str = "file", *, missing_ok: bool = False, limit: int = LIMIT) -> str:
    """The text of ``path`` (at most ``limit`` bytes). A missing file is a DasError ("no such file"), or with
    ``missing_ok`` a FileNotFoundError for callers that treat it as absent; every other problem is a
    DasError naming the file."""
    path = Path(path)
    try:
        if path.is_dir():
            raise fail(f"{path} is a folder, not a {what}", str(path))
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        if missing_ok:
            raise
        raise fail(f"no such file: {path}", str(path)) from None
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}", str(path)) from None
    if len(data) > limit:
        raise fail(f"{path} is larger than {limit // (1024 * 1024)} MiB: not a {what}", str(path), "check the path")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"{path} is not UTF-8 text (byte {exc.start}): not a {what}", str(path)) from None


def _checked(what: str, path: Path, check: Callable[[Path], None]) -> Path:
    """``check(path)``, with any OSError on the way (a name too long, a folder that cannot be searched) a
    DasError naming the path."""
    try:
        check(path)
    except OSError as exc:
        raise fail(
            f"cannot write the {what} {path}: {exc.strerror or exc}", "<command line>", _HINTS.get(exc.errno or 0)
        ) from None
    return path


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """A file dasdsl will write, checked before any work: not a folder, not a symbolic link (dasdsl never writes
    through one), its folder exists and is writable."""

    def check(path: Path) -> None:
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            refuse_link(path, what)
        if path.is_dir():
            raise fail(f"{path} is a folder; the {what} needs a file name", "<command line>", f"e.g. {path / 'out'}")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise fail(
                f"cannot write the {what} {path}: no folder {parent}", "<command line>", "create the folder first"
            )
        if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise fail(f"cannot write the {what} {path}: permission denied", "<command line>")

    return _checked(what, Path(path), check)


def check_output_folder(path: str | Path, what: str = "output folder") -> Path:
    """A folder dasdsl will write into (made if missing), checked before any work. A symbolic link to a folder
    is fine; one that points nowhere (here or above) is refused: making it would fail, and never end."""

    def check(path: Path) -> None:
        if path.exists() and not path.is_dir():
            raise fail(
                f"{path} is a file; the {what} must be a folder",
                "<command line>",
                "name a folder (it is made if missing)",
            )
        existing = path
        while not os.path.lexists(existing) and existing != existing.parent:
            existing = existing.parent
        if existing.is_symlink() and not existing.exists():
            raise fail(
                f"cannot make the {what} {path}: {existing} is a symbolic link that points nowhere "
                f"({os.readlink(existing)})",
                "<command line>",
                "remove the link, or name a real folder",
            )
        if not existing.is_dir():
            raise fail(f"cannot make the {what} {path}: {existing} is a file", "<command line>")
        if not os.access(existing, os.W_OK):
            raise fail(f"cannot write the {what} {path}: permission denied in {existing}", "<command line>")

    return _checked(what, Path(path), check)


# ---- writing ---------------------------------------------------------------------------------------------

_HINTS = {
    errno.ENOSPC: "free some space on that disk (or name a folder on another one) and run again",
    errno.EDQUOT: "your disk quota is used up: free some space (or name a folder on another disk) and run again",
    errno.EROFS: "that file system is read-only: name a folder on a writable disk",
    errno.EACCES: "you may not write there: name a folder you can write",
    errno.EPERM: "you may not write there: name a folder you can write",
    errno.ENAMETOOLONG: "use a shorter name",
}


def _os_fail(path: Path, what: str, exc: OSError, doing: str = "write") -> DasError:
    """One paragraph for an OSError while writing ``path``: which file, the system's reason, what to do."""
    reason = exc.strerror or str(exc)
    return fail(
        f"cannot {doing} the {what} {path}: {reason}", str(path), _HINTS.get(exc.errno or 0, "nothing was written")
    )


def refuse_link(path: str | Path, what: str = "file") -> None:
    """A DasError when ``path`` is a symbolic link (dangling or not) or exists as something other than a
    regular file: dasdsl writes only regular files it can replace, never through a link a run directory
    (or anyone) planted, never onto a device or pipe."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _os_fail(path, what, exc) from None
    if stat.S_ISLNK(info.st_mode):
        try:
            to = f" (to {os.readlink(path)})"
        except OSError:
            to = ""
        raise fail(
            f"refusing to write the {what} {path}: it is a symbolic link{to}, and dasdsl never writes through one",
            str(path),
            "remove the link, or name the file itself",
        )
    if stat.S_ISDIR(info.st_mode):
        raise fail(f"cannot write the {what} {path}: it is a folder", str(path), "name a file")
    if not stat.S_ISREG(info.st_mode):
        raise fail(
            f"refusing to write the {what} {path}: it is not a regular file (a device, pipe or socket)", str(path)
        )


def _temporary(path: Path, what: str) -> tuple[int, Path]:
    """A new file next to ``path`` under an unguessable name, made with O_CREAT | O_EXCL | O_NOFOLLOW: nothing
    that was there before (a planted link included) is opened."""
    stem = path.name.encode("utf-8", "surrogateescape")[: NAME_MAX - 32].decode("utf-8", "ignore")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
    for _ in range(100):
        tmp = path.with_name(f".{stem}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp  # the umask applies, as for any new file
        except FileExistsError:
            continue
        except OSError as exc:
            raise _os_fail(path, what, exc) from None
    raise fail(f"cannot write the {what} {path}: no free temporary name next to it", str(path))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_folder(path: Path) -> None:
    """Make a rename durable (best effort: not every system can open a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: str | bytes, what: str = "file") -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` the one safe way: into a fresh temporary next to it (made
    with O_EXCL | O_NOFOLLOW), synced, then renamed over ``path``. A reader sees the old or the new file, never
    half; a symbolic link at ``path`` is refused, not followed; an existing file keeps its permissions; on any
    failure (a full or read-only disk: a DasError naming the file and the reason) the temporary is removed and
    ``path`` is as it was."""
    path = Path(path)
    refuse_link(path, what)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    try:
        mode = stat.S_IMODE(os.stat(path, follow_symlinks=False).st_mode)
    except OSError:
        mode = None
    fd, tmp = _temporary(path, what)
    try:
        try:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            _write_all(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _os_fail(path, what, exc) from None
        raise
    _fsync_folder(path.parent if str(path.parent) else Path("."))
    return path


def append_text(path: str | Path, text: str, what: str = "file") -> None:
    """Append ``text`` to ``path`` (made if missing), synced; opened with O_NOFOLLOW, so a symbolic link there
    is refused, not followed. A write that fails (a full disk) is cut back off: the file ends where it did."""
    path = Path(path)
    refuse_link(path, what)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _BINARY | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a link since the check above
            refuse_link(path, what)
        raise _os_fail(path, what, exc) from None
    try:
        size = os.fstat(fd).st_size
        try:
            _write_all(fd, text.encode("utf-8"))
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise _os_fail(path, what, exc) from None
    finally:
        os.close(fd)


def make_folder(path: str | Path, what: str = "folder", *, link_ok: bool = True) -> Path:
    """``path`` as a folder, made with its parents if missing; every failure (a file or a broken symbolic link
    in the way, a read-only disk, a name too long) a DasError naming it. ``link_ok=False``: a folder inside a
    run directory, which must not be a symbolic link out of it."""
    path = Path(path)
    try:
        if path.is_symlink() and (not link_ok or not path.exists()):
            dangling = "" if path.exists() else f" that points nowhere ({os.readlink(path)})"
            raise fail(
                f"refusing to write into the {what} {path}: it is a symbolic link{dangling}",
                str(path),
                "remove the link, or name a real folder",
            )
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise fail(
            f"cannot make the {what} {path}: a file or a broken symbolic link is in the way", str(path)
        ) from None
    except OSError as exc:
        raise _os_fail(path, what, exc, "make") from None
    return path


def file_system_error(exc: OSError) -> DasError:
    """An OSError that no check turned into a message (a path too long, a folder that cannot be searched) as
    the one-paragraph error it is: which file, the system's reason. The command line's last resort."""
    reason, hint = exc.strerror or str(exc), _HINTS.get(exc.errno or 0)
    if exc.filename is None:
        return fail(f"a file could not be read or written: {reason}", "<file system>", hint)
    where = os.fsdecode(exc.filename)
    return fail(f"cannot use {where}: {reason}", str(Path(where)), hint)


def fit_name(name: str, suffix: str = "", limit: int = NAME_MAX) -> str:
    """``name + suffix`` as one file name of at most ``limit`` bytes: a name too long is cut and given a short
    hash of the whole, so that two long names that differ only at the end still name two files."""
    whole = name + suffix
    if len(whole.encode("utf-8", "surrogateescape")) <= limit:
        return whole
    tag = "-" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    room = limit - len((tag + suffix).encode("utf-8", "surrogateescape"))
    cut = name.encode("utf-8", "surrogateescape")[: max(room, 0)].decode("utf-8", "ignore")
    return cut + tag + suffix
