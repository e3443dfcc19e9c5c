"""One writer per folder: an exclusive lock file, so that two `streamgan train` (or `run`) on
the same workdir do not both write into it.

The lock is `filelock.FileLock` (an OS-level `flock` on `<folder>/.streamgan.lock`), which the
operating system releases when the holder exits in any way, SIGKILL included: a killed run
never leaves a stale lock that would block its own `--resume`.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

from streamgan.common.errors import UserError

LOCK_FILE = ".streamgan.lock"


class InUseError(UserError):
    """Another streamgan process holds the folder."""


@contextlib.contextmanager
def exclusive(folder: str, option: str = "--workdir") -> Iterator[str]:
    """Hold folder's lock for the block (creating the folder); raise InUseError at once, in
    one line, when another process holds it. Yields the lock file's path."""
    import filelock

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_FILE)
    lock = filelock.FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise InUseError(f"{folder} is in use by another streamgan process (it holds {path}): "
                         f"wait for it to finish, or choose another {option}") from None
    try:
        yield path
    finally:
        lock.release()
