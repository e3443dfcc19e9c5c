"""Training interrupted the hard way: SIGKILL during a checkpoint write and mid-epoch, a second
trainer on the same workdir, a disk that fills up while checkpointing. --resume must continue
from the last complete checkpoint and reach the same epoch count."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from streamgan.common.locks import exclusive
from streamgan.pipeline.cli import main
from streamgan.train.checkpoint import STATE_FILE, list_checkpoints
from tests.helpers import one_line, our_lines

EPOCHS = 5
STEPS = 7  # 100 images, batch 16
UNBUFFERED = dict(os.environ, PYTHONUNBUFFERED="1")  # what a killed child printed is readable
TRAIN = ["--batch-size", "16", "--latent-dim", "8", "--base-filters", "32", "--num-samples", "4",
         "--eval-every", "0", "--arch", "dcgan", "--seed", "3"]


def train_cmd(workdir, *extra):
    return [sys.executable, "-m", "streamgan.pipeline", "train", "--workdir", workdir, *TRAIN, *extra]


def wait_for(predicate, proc, what, timeout=240.0, interval=0.001):
    """Poll until predicate() is true; fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"training ended (code {proc.returncode}) before {what}")
        time.sleep(interval)
    pytest.fail(f"no {what} within {timeout}s")


def checkpoint_names(workdir):
    root = os.path.join(workdir, "checkpoints")
    return os.listdir(root) if os.path.isdir(root) else []


def history_epochs(workdir):
    with open(os.path.join(workdir, "history.csv")) as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


@pytest.mark.slow  # real fit() runs in subprocesses
def test_sigkill_in_a_checkpoint_write_and_mid_epoch_then_resume_reaches_every_epoch(
        fault_store, tmp_path, capsys):
    workdir = str(tmp_path / "run")
    first = subprocess.Popen(train_cmd(workdir, "--store", fault_store, "--epochs", str(EPOCHS)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, env=UNBUFFERED)
    try:
        wait_for(lambda: "epoch0001" in checkpoint_names(workdir), first, "a first checkpoint")
        # A second trainer on the same workdir while the first one runs: one line, no writes.
        assert main(["train", "--workdir", workdir, "--resume", "--epochs", str(EPOCHS)]) == 2
        one_line(capsys, f"{workdir} is in use by another streamgan process")

        def writing():  # a checkpoint directory still being written (epoch 2 or 3)
            return next((n for n in checkpoint_names(workdir)
                         if n.startswith((".epoch0002.tmp", ".epoch0003.tmp"))), None)
        half = wait_for(writing, first, "a checkpoint being written")
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    killed_in = int(half[6:10])  # the epoch whose checkpoint was cut short
    complete = [e for e, _ in list_checkpoints(os.path.join(workdir, "checkpoints"))]
    assert complete and complete[-1] in (killed_in - 1, killed_in)  # the rename is all-or-nothing
    last = complete[-1]
    assert all(os.path.getsize(os.path.join(workdir, "checkpoints", f"epoch{e:04d}", STATE_FILE))
               for e in complete)

    # Resume, and SIGKILL it in the middle of the epoch after its first new checkpoint.
    second = subprocess.Popen(train_cmd(workdir, "--resume", "--epochs", str(EPOCHS)),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              start_new_session=True, env=UNBUFFERED)
    try:
        wait_for(lambda: f"epoch{last + 1:04d}" in checkpoint_names(workdir), second,
                 f"checkpoint {last + 1} after resuming")
        time.sleep(0.15)  # into the next epoch (one takes about half a second here)
        os.killpg(second.pid, signal.SIGKILL)
        resumed_from = second.stdout.read()
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
        second.wait()
    assert f"resuming {workdir} after epoch {last} " in resumed_from
    latest = list_checkpoints(os.path.join(workdir, "checkpoints"))[-1][0]
    assert latest == last + 1  # killed during the epoch after it

    done = subprocess.run(train_cmd(workdir, "--resume", "--epochs", str(EPOCHS)),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming {workdir} after epoch {latest} " in done.stdout
    assert f"{EPOCHS} epochs done" in done.stdout
    complete = list_checkpoints(os.path.join(workdir, "checkpoints"))
    state = json.load(open(os.path.join(complete[-1][1], STATE_FILE)))
    assert complete[-1][0] == EPOCHS and state["epoch"] == EPOCHS
    assert state["step"] == EPOCHS * STEPS  # killed epochs' steps were not counted
    assert history_epochs(workdir) == list(range(1, EPOCHS + 1))  # each epoch once, 1-based
    assert not [n for n in checkpoint_names(workdir) if n.startswith(".")]  # debris removed


def test_a_second_run_on_the_same_workdir_is_one_line(tmp_path, capsys):
    workdir = str(tmp_path / "work")
    with exclusive(workdir):  # what a running `streamgan run` holds
        assert main(["run", "--catalog", str(tmp_path / "c.json"), "--workdir", workdir]) == 2
    one_line(capsys, f"streamgan run: error: {workdir} is in use by another streamgan process")
    assert set(os.listdir(workdir)) == {".streamgan.lock", "streamgan.log"}  # nothing else


def fill(folder, leave: int) -> str:
    """Fill folder's file system but for `leave` bytes; returns the filler's path."""
    stat = os.statvfs(folder)
    filler = os.path.join(folder, "filler.bin")
    with open(filler, "wb") as fh:
        fh.write(bytes(max(0, stat.f_bavail * stat.f_frsize - leave)))
    return filler


@pytest.mark.slow  # real fit() runs in subprocesses
def test_disk_full_while_checkpointing_is_one_line_and_the_last_checkpoint_survives(
        fault_store, small_disk, capsys):
    workdir = os.path.join(small_disk(16 * 1024 * 1024), "run")
    assert main(["train", "--store", fault_store, "--workdir", workdir, *TRAIN, "--epochs", "1"]) == 0
    capsys.readouterr()
    weights = os.path.join(workdir, "checkpoints", "epoch0001", "gan.weights.h5")
    before = open(weights, "rb").read()
    # Room for an epoch's samples, curve and generator, not for its 5 MB checkpoint.
    filler = fill(workdir, 2 * 1024 * 1024)
    full = subprocess.run(train_cmd(workdir, "--resume", "--epochs", "2"), capture_output=True,
                          text=True, timeout=600)
    ours = our_lines(full.stderr)
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr[-3000:]
    assert len(ours) == 1 and ours[0].startswith(
        "streamgan train: error: the disk is full (No space left on device (a checkpoint needs "
        "about 4.9 MiB, "), ours
    assert f"{workdir}/checkpoints/.epoch0002.tmp" in ours[0] and ours[0].endswith(
        "free some space and rerun: what was published or checkpointed before is intact")
    assert [e for e, _ in list_checkpoints(os.path.join(workdir, "checkpoints"))] == [1]
    assert open(weights, "rb").read() == before
    assert not [n for n in checkpoint_names(workdir) if n.startswith(".")]  # no half checkpoint

    os.remove(filler)  # space again: the resume picks up from the intact checkpoint
    again = subprocess.run(train_cmd(workdir, "--resume", "--epochs", "2"), capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming {workdir} after epoch 1 " in again.stdout
    assert [e for e, _ in list_checkpoints(os.path.join(workdir, "checkpoints"))] == [1, 2]
    assert history_epochs(workdir) == [1, 2]
