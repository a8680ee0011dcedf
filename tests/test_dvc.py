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


def test_locked_files_at_reads_a_revisions_outputs_from_the_cache_and_checks_them(tmp_path):
    import hashlib
    import re

    from iterdeploy.pipeline.dvc import cache_path, locked_files_at

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    good, bad = b'{"solved": 3}', b'{"solved": 4}'
    digests = [hashlib.md5(x).hexdigest() for x in (good, bad)]
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n"
        f"  gen_000-evaluation:\n    outs:\n    - path: runs/gen_000/metrics.json\n      md5: {digests[0]}\n"
        f"  gen_001-evaluation:\n    outs:\n    - path: runs/gen_001/metrics.json\n      md5: {digests[1]}\n"
        f"    - path: runs/gen_001/other.json\n      md5: {digests[0]}\n")
    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "0")
    git("add", "dvc.lock")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "lock")
    for digest, content in zip(digests, (good, b"tampered")):
        cache_path(tmp_path, digest).parent.mkdir(parents=True, exist_ok=True)
        cache_path(tmp_path, digest).write_bytes(content)
    pattern = re.compile(r"gen_\d+/metrics\.json$")
    # gen_001's cached copy does not hash to its md5: left out; other.json does not match
    assert locked_files_at(tmp_path, "HEAD", pattern) == {"runs/gen_000/metrics.json": good}
    assert locked_files_at(tmp_path, "HEAD~1", pattern) == {}  # no dvc.lock in that revision
    assert locked_files_at(tmp_path, "no-such-rev", pattern) == {}


def test_params_files_are_in_the_style_dvc_writes(tmp_path):
    """`dvc exp run -S key=value` rewrites the params file it changes: a file already in DVC's style keeps
    every other line, so an experiment's diff is only what changed."""
    from iterdeploy.pipeline.dvc import find_dvc

    repo = Path(__file__).resolve().parents[1]
    python = Path(find_dvc(root=repo)).parent / "python"
    files = [repo / "params.yaml", repo / "pretrain" / "params.yaml", repo / "grpo" / "params.yaml",
             *sorted((repo / "experiments").glob("*.yaml"))]
    for i, f in enumerate(files):
        (tmp_path / f"{i}.yaml").write_bytes(f.read_bytes())
    script = ("import sys\nfrom dvc.utils.serialize import modify_yaml\n"
              "for f in sys.argv[1:]:\n    with modify_yaml(f):\n        pass\n")
    subprocess.run([str(python), "-c", script, *(str(tmp_path / f"{i}.yaml") for i in range(len(files)))],
                   check=True, capture_output=True)
    changed = [str(f.relative_to(repo)) for i, f in enumerate(files)
               if (tmp_path / f"{i}.yaml").read_bytes() != f.read_bytes()]
    assert not changed, f"DVC would rewrite {changed}"
