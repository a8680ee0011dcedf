"""DVC helpers that need no DVC install: the stale-lock rule an interrupted run depends on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from contextlib import contextmanager

from iterdeploy.pipeline.dvc import clear_stale_locks


def _lock(root, pids):
    path = root / ".dvc" / "tmp" / "rwlock"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = [{"pid": p, "cmd": "dvc repro"} for p in pids]
    path.write_text(json.dumps({"read": {"data/tasks": entry}, "write": {"runs/x": entry[0]} if entry else {}}))
    return path


@contextmanager
def _running(*argv: str):
    """The pid of a live process with argv on its command line, killed on exit."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *argv])
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 10
    while b"time.sleep" not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # between fork and exec the child still shows its parent's (or no) command line
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_lock_held_by_a_dead_process_is_removed(tmp_path):
    path = _lock(tmp_path, [_dead_pid()])
    assert clear_stale_locks(tmp_path) is True
    assert not path.exists()


def test_a_lock_held_by_a_live_dvc_stays(tmp_path):
    with _running("dvc", "repro") as pid:  # "dvc" on its command line, as a running dvc has
        path = _lock(tmp_path, [pid])
        assert clear_stale_locks(tmp_path) is False
        assert path.exists()


def test_a_recycled_pid_that_is_not_dvc_does_not_hold_the_lock(tmp_path):
    with _running() as pid:
        path = _lock(tmp_path, [pid])
        assert clear_stale_locks(tmp_path) is True
        assert not path.exists()


def test_an_empty_lock_is_left_alone_and_not_reported(tmp_path):
    # DVC leaves an empty rwlock behind after every clean run: nothing was interrupted.
    path = _lock(tmp_path, [])
    assert clear_stale_locks(tmp_path) is False
    assert path.exists()
    assert clear_stale_locks(tmp_path / "nowhere") is False
