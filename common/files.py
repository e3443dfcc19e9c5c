"""Paths and files: which paths are remote, and writing files so no reader sees half of one."""
from __future__ import annotations

import contextlib
import errno
import os
import re
from typing import Iterator

# What "remote" means, for every path an option or a record names: a location with a scheme
# (http://, gs://, s3://: fetched or opened through Beam's FileSystems) other than file://.
# A file:// URL is a local path written as a URL: it is opened as that path (local_path),
# counts as local for the safety rules (a file:// catalogue may name local files), and is
# made absolute like any local path (absolute). Beam's own FileSystems does not open file://.

def is_url(path: str) -> bool:
    """True for anything written with a scheme (http://, gs://, file://...): a location given
    in full, never resolved against a folder."""
    return "://" in path


def is_remote(path: str) -> bool:
    """True for a URL or a Beam FileSystems path (gs://, s3://, http://...); False for a local
    path or a file:// URL."""
    return is_url(path) and not path.startswith("file://")


def local_path(path: str) -> str:
    """A local path or file:// URL as a plain path."""
    return path[len("file://"):] if path.startswith("file://") else path


def absolute(path: str) -> str:
    """A remote location unchanged; a local path or file:// URL as an absolute local path."""
    return path if is_remote(path) else os.path.abspath(local_path(path))


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = "") -> Iterator[str]:
    """Yields a temporary path beside `path`; renames it onto `path` when the block succeeds,
    removes it when it fails. A reader, or a run killed mid-write, never sees a partial file.

    suffix: kept at the end of the temporary name for writers that insist on one (".keras").
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp{os.getpid()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.isdir(tmp):
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text(path: str, text: str) -> str:
    """Write text to path atomically; return path."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
    return path


def require_room(folder: str, needed: int, what: str, path: str, margin: int = 0) -> None:
    """Raise OSError(ENOSPC) naming `what` (which needs `needed` bytes) and `path` when
    folder's disk has fewer than needed + margin bytes free: checked before HDF5 writes,
    which fail badly on a full disk."""
    import shutil
    free = shutil.disk_usage(folder).free
    if free < needed + margin:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({what} needs about "
                                    f"{needed / 2**20:.1f} MiB, {free / 2**20:.1f} MiB free)", path)


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_FULL_TEXT = ("No space left on device", "Disk quota exceeded", "File too large",
              "[Errno 28]", "errno = 28")


def disk_full(error: BaseException) -> str | None:
    """When error (or the text of an error that a library or a Beam worker re-raised) means
    the disk, the quota or the file-size limit is full: "<what>: <file>" in one line; else
    None."""
    text = str(error)
    code = getattr(error, "errno", None)
    if code in _FULL:
        what = getattr(error, "strerror", None) or os.strerror(code)
    else:
        what = next((t for t in _FULL_TEXT[:3] if t in text), None)
        if what is None and not any(t in text for t in _FULL_TEXT):
            return None
        what = what or os.strerror(errno.ENOSPC)
    named = getattr(error, "filename", None) or re.search(r"filename = '([^']+)'", text)
    name = named.group(1) if isinstance(named, re.Match) else named
    return f"{what}: {name}" if name else what
