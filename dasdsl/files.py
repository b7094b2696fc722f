"""The one place that reads small files a user hands over (.das files, JSON tables, a run's config and log):
a size limit, UTF-8 with or without a byte-order mark, and every failure a one-paragraph DasError."""

from __future__ import annotations

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
