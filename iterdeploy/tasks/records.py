"""One task on its way into a task set, and the naming rules every task set follows."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

TASK_ID = re.compile(r"[a-z][a-z0-9_.-]{0,127}\Z")
"""Task ids are file names on every OS and PDDL names: lower case, digits, '_', '.', '-'."""

MANIFEST_COLUMNS = ("task_id", "domain", "split", "size", "params", "seed", "problem_path", "plan_path",
                    "domain_path", "reference_length", "difficulty", "content_hash")


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    domain: str
    split: str
    size: int
    """The primary size (generators) or the number of objects (imported collections)."""
    params: dict
    seed: int | None
    problem: bytes
    plan: bytes | None
    reference_length: int | None
    difficulty: str | None = None

    def __post_init__(self) -> None:
        if not TASK_ID.match(self.task_id):
            raise ValueError(f"unsafe task id {self.task_id!r}")


def task_seed(seed: int, domain: str, split: str, size: int, index: int, attempt: int = 0) -> int:
    """A task's own seed: sha256 of its coordinates, 63 bits (fits int64), independent of Python's hash().

    `attempt` > 0 re-draws a slot whose first task duplicated an earlier one.
    """
    key = f"{seed}/{domain}/{split}/{size}/{index}" + (f"/{attempt}" if attempt else "")
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def params_json(params: dict) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


_COMMENT = re.compile(r";[^\n]*")
_NAME = re.compile(r"\(\s*problem\s+[^\s()]+\s*\)", re.IGNORECASE)


def content_hash(problem: str | bytes) -> str:
    """Hash of a problem's content, ignoring comments, its name, case and layout: equal tasks, equal hashes."""
    text = problem.decode("utf-8", "replace") if isinstance(problem, bytes) else problem
    text = _NAME.sub("(problem)", _COMMENT.sub(" ", text).lower(), count=1)
    text = " ".join(text.replace("(", " ( ").replace(")", " ) ").split())
    return hashlib.sha256(text.encode()).hexdigest()[:16]
