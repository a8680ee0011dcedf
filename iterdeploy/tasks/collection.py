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


# --------------------------------------------------------------------------- splits of params.yaml `tasks`


def collection_root(collection: str, base: str | Path | None = None) -> Path:
    """A split's collection folder: absolute, or relative to `base` (the project root; default: cwd)."""
    path = Path(collection).expanduser()
    return path if path.is_absolute() or base is None else Path(base) / path


def _subset_folders(domain_dir: Path) -> list[str]:
    return sorted(f"{top}/{d.name}" for top in SPLIT_DIRS for d in (domain_dir / top).glob("*") if d.is_dir())


def split_problems(split, base: str | Path | None = None) -> list[tuple[str, Path]]:
    """(subset, problem file) of a collection split (a `SplitSpec` with `collection`), in subset order and by file
    name, `limit` per subset. A missing collection, domain or subset folder, or an empty subset, is a one-line
    ConfigError naming the split's key and the folder."""
    where = f"tasks.splits ({split.name}, {split.domain})"
    root = collection_root(split.collection, base)
    if not root.is_dir():
        raise ConfigError(f"{where}: collection folder not found: {split.collection} (looked in {root})")
    domain_dir = root / split.domain
    if not (domain_dir / "domain.pddl").is_file():
        found = sorted(p.parent.name for p in root.glob("*/domain.pddl"))
        raise ConfigError(f"{where}: the collection has no {split.domain}/domain.pddl; its domains: "
                          f"{', '.join(found) or 'none'}", root)
    subsets = list(split.subsets) if split.subsets is not None else _subset_folders(domain_dir)
    if not subsets:
        raise ConfigError(f"{where}: {split.domain} has no training/* or testing/* folders", domain_dir)
    out = []
    for subset in subsets:
        folder = domain_dir / subset
        if not folder.is_dir():
            raise ConfigError(f"{where}: subset {subset} not found; {split.domain} has "
                              f"{', '.join(_subset_folders(domain_dir)) or 'no training/* or testing/* folders'}",
                              folder)
        problems = sorted(p for p in folder.glob("*.pddl") if p.is_file())
        if not problems:
            raise ConfigError(f"{where}: subset {subset} holds no .pddl problem files", folder)
        out += [(subset, p) for p in problems[:split.limit]]
    return out


def split_records(split, base: str | Path | None = None) -> Iterator[TaskRecord]:
    """The tasks of a collection split: problems copied byte for byte, reference plans where
    `<domain>/plans/<subset>/<name>.plan` exists; size = number of objects. Task ids are
    `<domain>-<split>-<subset with '-' for '/'>-<name>`."""
    problems = split_problems(split, base)
    domain_dir = collection_root(split.collection, base) / split.domain
    parsed_domain = read_domain(domain_dir / "domain.pddl")
    for subset, problem in problems:
        plan_file = domain_dir / "plans" / subset / f"{problem.stem}.plan"
        plan = plan_file.read_bytes() if plan_file.is_file() else None
        length = None if plan is None else len(parse_plan(plan.decode("utf-8", "replace"), strict=True))
        objects = len(read_problem(problem, parsed_domain).objects)
        data = problem.read_bytes()
        task_id = f"{split.domain}-{split.name}-{subset.replace('/', '-')}-{problem.stem}".lower()
        try:
            yield TaskRecord(
                task_id=task_id, domain=split.domain, split=split.name, size=objects,
                params={"objects": objects, **_header_params(data)}, seed=None, problem=data, plan=plan,
                reference_length=length, difficulty=Path(subset).name,
            )
        except ValueError:
            raise ConfigError(f"file name gives the task id {task_id!r}, which is not a safe name (lower case, "
                              "digits, '_', '.', '-')", problem) from None
