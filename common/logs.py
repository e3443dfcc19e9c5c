"""Keeping framework chatter off the console.

TensorFlow's C++ start-up lines, absl, Beam's worker and runner logs and Python warnings all
write to file descriptor 2 (or to Python loggers that do), in this process and in the worker
processes it starts. `capture(log_path)` points descriptor 2 at a log file for the length of
a command, so all of it lands there, and gives streamgan's own error lines and progress bars a
`console()` stream on the real terminal. Standard output (streamgan's report lines and
Keras' progress) stays on the terminal. `-v` turns the capture off.

Where the log is, one rule for every command (pipeline/cli.py applies it): `streamgan.log`
(LOG_FILE) in the folder the command works in, its `--workdir` (train, evaluate, generate
--workdir, run, demo), or for a command without one the folder its output goes into
(preprocess: the folder that receives the store; generate --model: the folder of --out or
--out-dir). Each command appends, after a header line naming it, so a log holds the commands
of its folder in order. `inspect` runs no framework and keeps no log.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from typing import IO, Iterator

LOG_FILE = "streamgan.log"

_console: IO[str] | None = None


def console() -> IO[str]:
    """Where progress bars and error lines go: the terminal's stderr, even while captured."""
    return _console or sys.stderr


@contextlib.contextmanager
def capture(log_path: str | None, header: str | None = None) -> Iterator[str | None]:
    """Send descriptor 2 and Python logging to log_path (appended, after the line `header`)
    inside the block; yields the path. log_path None: capture nothing."""
    global _console
    if log_path is None:
        yield None
        return
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    try:  # a stderr that is not descriptor 2 (a test's capture) keeps our lines
        sys.stderr.fileno()
        ours = terminal
    except (AttributeError, OSError, io.UnsupportedOperation):
        ours = sys.stderr
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    if header:
        os.write(log_fd, (header.rstrip("\n") + "\n").encode("utf-8", "replace"))
    os.dup2(log_fd, 2)
    os.close(log_fd)
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)  # descriptor 2: the log file
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    _console = ours
    try:
        yield log_path
    finally:
        _console = None
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(previous_level)
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        terminal.close()
