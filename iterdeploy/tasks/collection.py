"""Importing an existing PDDL collection laid out like the IPC 2023 Learning Track benchmarks.

    ROOT/<domain>/domain.pddl
    ROOT/<domain>/training/<difficulty>/<name>.pddl   -> split "train"
    ROOT/<domain>/testing/<difficulty>/<name>.pddl    -> split "test"
    ROOT/<domain>/plans/<training|testing>/<difficulty>/<name>.plan   (optional)

Other folders (such as base_cases) are left out. Files are copied byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from iterdeploy.errors import ConfigError
from iterdeploy.planning import parse_plan, read_domain, read_problem
from iterdeploy.tasks.records import TaskRecord

SPLIT_DIRS = {"training": "train", "testing": "test"}
_HEADER_PARAM = re.compile(r"(\w+)=(\d+)")
_NOT_PARAMS = {"instance_id", "seed"}


@dataclass(frozen=True)
class Collection:
    root: Path
    """The collection's root folder, one sub-folder per domain."""
    domains: tuple[str, ...]
    """Domains to import (sub-folders of root that hold a domain.pddl)."""

    def domain_file(self, domain: str) -> Path:
        return self.root / domain / "domain.pddl"

    def records(self) -> Iterator[TaskRecord]:
        for domain in self.domains:
            parsed_domain = read_domain(self.domain_file(domain))
            for split_dir, split in SPLIT_DIRS.items():
                for problem in sorted((self.root / domain / split_dir).glob("*/*.pddl")):
                    difficulty = problem.parent.name
                    plan_file = self.root / domain / "plans" / split_dir / difficulty / f"{problem.stem}.plan"
                    plan = plan_file.read_bytes() if plan_file.is_file() else None
                    length = None if plan is None else len(parse_plan(plan.decode("utf-8", "replace"), strict=True))
                    objects = len(read_problem(problem, parsed_domain).objects)
                    data = problem.read_bytes()
                    yield TaskRecord(
                        task_id=f"{domain}-{split}-{difficulty}-{problem.stem}".lower(),
                        domain=domain, split=split, size=objects,
                        params={"objects": objects, **_header_params(data)},
                        seed=None, problem=data, plan=plan, reference_length=length, difficulty=difficulty,
                    )


def _header_params(problem: bytes) -> dict[str, int]:
    """Size parameters from an IPC header line such as ';; blocks=5, out_folder=..., seed=1007'."""
    first = problem.split(b"\n", 1)[0].decode("utf-8", "replace")
    if not first.startswith(";"):
        return {}
    return {k: int(v) for k, v in _HEADER_PARAM.findall(first) if k not in _NOT_PARAMS}


def from_collection(root: str | Path, domains: list[str] | None = None) -> Collection:
    """A collection to import with `build_taskset`; `domains` defaults to every domain found under root."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"collection root is not a directory: {root}")
    found = sorted(p.parent.name for p in root.glob("*/domain.pddl"))
    if not found:
        raise ConfigError(f"no <domain>/domain.pddl under {root}")
    if domains is None:
        domains = found
    for d in domains:
        if d not in found:
            raise ConfigError(f"domain {d!r} not in collection {root}; found: {', '.join(found)}")
    return Collection(root, tuple(domains))
