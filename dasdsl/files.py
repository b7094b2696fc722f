"""The one place that reads small files a user hands over (.das files, JSON tables, a run's config and log):
a size limit, UTF-8 with or without a byte-order mark, and every failure a one-paragraph DasError."""

from __future__ import annotations

import os
from pathlib import Path

from dasdsl.errors import DasError, Span, error

LIMIT = 16 * 1024 * 1024  # bytes: far above any real .das file, table or log; /dev/zero ends here


def read_text(path: str | Path, what: str = "file", *, missing_ok: bool = False, limit: int = LIMIT) -> str:
    """The text of ``path`` (at most ``limit`` bytes). A missing file is a DasError ("no such file"), or with
    ``missing_ok`` a FileNotFoundError for callers that treat it as absent; every other problem is a
    DasError naming the file."""
    path = Path(path)

    def fail(message: str, hint: str | None = None) -> DasError:
        return DasError([error(message, Span.unknown(str(path)), hint)])

    if path.is_dir():
        raise fail(f"{path} is a folder, not a {what}")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        if missing_ok:
            raise
        raise fail(f"no such file: {path}") from None
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise fail(f"{path} is larger than {limit // (1024 * 1024)} MiB: not a {what}", "check the path")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"{path} is not UTF-8 text (byte {exc.start}): not a {what}") from None


def _fail_path(message: str, hint: str | None = None) -> DasError:
    return DasError([error(message, Span.unknown("<command line>"), hint)])


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """A file dasdsl will write, checked before any work: not a folder, its folder exists and is writable."""
    path = Path(path)
    if path.is_dir():
        raise _fail_path(f"{path} is a folder; the {what} needs a file name", f"e.g. {path / 'out'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise _fail_path(f"cannot write the {what} {path}: no folder {parent}", "create the folder first")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise _fail_path(f"cannot write the {what} {path}: permission denied")
    return path


def check_output_folder(path: str | Path, what: str = "output folder") -> Path:
    """A folder dasdsl will write into (made if missing), checked before any work."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise _fail_path(f"{path} is a file; the {what} must be a folder", "name a folder (it is made if missing)")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise _fail_path(f"cannot make the {what} {path}: {existing} is a file")
    if not os.access(existing, os.W_OK):
        raise _fail_path(f"cannot write the {what} {path}: permission denied in {existing}")
    return path
