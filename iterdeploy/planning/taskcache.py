"""An on-disk cache of compiled tasks, keyed by the content of the domain and problem files.

Reading a 1 MB problem costs ~50 ms; unpickling its compiled task ~10 ms (see
benchmarks/README.md), which matters when the same problems are read by process
after process. Entries are written atomically (a temporary file, then rename);
an entry that cannot be read, for any reason, is ignored and replaced. Entries
are pickles: point `cache_dir` only at a directory you trust.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import sys
import tempfile
from pathlib import Path

from iterdeploy.planning.pddl import parse_domain, parse_problem, paused_gc, read_pddl_bytes
from iterdeploy.planning.task import Task

FORMAT = 1
"""Bump when Task, Domain or Problem change shape: old entries are then never read."""


def cache_key(domain: bytes, problem: bytes) -> str:
    h = hashlib.sha256(f"iterdeploy-task-{FORMAT}-py{sys.version_info[0]}.{sys.version_info[1]}\0".encode())
    h.update(len(domain).to_bytes(8, "little"))
    h.update(domain)
    h.update(problem)
    return h.hexdigest()


def load_cached(domain_path: str | Path, problem_path: str | Path, cache_dir: str | Path,
                max_bytes: int | None = None) -> Task:
    domain_path, problem_path = Path(domain_path), Path(problem_path)
    domain_bytes = read_pddl_bytes(domain_path, "domain", max_bytes)
    problem_bytes = read_pddl_bytes(problem_path, "problem", max_bytes)
    entry = Path(cache_dir) / f"{cache_key(domain_bytes, problem_bytes)}.pickle"
    task = _read_entry(entry)
    if task is not None:  # same content, perhaps at another path: report the paths asked for
        task.domain = dataclasses.replace(task.domain, path=str(domain_path))
        task.problem = dataclasses.replace(task.problem, path=str(problem_path))
        return task
    text = problem_bytes.decode("utf-8", errors="replace")
    domain = parse_domain(domain_bytes.decode("utf-8", errors="replace"), domain_path)
    task = Task(domain, parse_problem(text, domain, problem_path))
    _write_entry(entry, task)
    return task


def _read_entry(entry: Path) -> Task | None:
    try:
        with open(entry, "rb") as f, paused_gc():
            task = pickle.load(f)
    except Exception:  # missing, truncated, corrupt, or from an incompatible version: rebuild it
        return None
    return task if isinstance(task, Task) else None


def _write_entry(entry: Path, task: Task) -> None:
    """Best effort: a cache that cannot be written only costs speed."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=entry.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(task, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
