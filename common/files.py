"""Paths and files: which paths are remote, and writing files so no reader sees half of one."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator


def is_remote(path: str) -> bool:
    """True for a URL or a Beam FileSystems path (gs://, s3://, http://...); False for a local
    path or a file:// URL."""
    return "://" in path and not path.startswith("file://")


def local_path(path: str) -> str:
    """A local path or file:// URL as a plain path."""
    return path[len("file://"):] if path.startswith("file://") else path


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
