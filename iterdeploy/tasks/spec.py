"""What task set to generate: typed, checked sections of params.yaml (`tasks:`) or of a spec file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from iterdeploy.config import build, option, read_yaml, to_dict
from iterdeploy.errors import ConfigError
from iterdeploy.tasks.generators import GENERATORS, PLANNERS, get_generator

SPLIT_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")


def _split_name(name: str) -> str | None:
    return None if SPLIT_NAME.match(name) else f"{name!r} must match {SPLIT_NAME.pattern[:-2]}"


def _generator(domain: str) -> str | None:
    return None if domain in GENERATORS else f"no generator for {domain!r}; available: {', '.join(sorted(GENERATORS))}"


@dataclass(frozen=True)
class SplitSpec:
    name: str = option(doc="split the tasks belong to, e.g. train, deploy, test (lower case, digits, _)",
                       check=_split_name)
    domain: str = option(doc="generator to use (a domain with a built-in generator)", check=_generator)
    sizes: tuple[int, ...] = option(doc="primary sizes to generate (see each generator's from_size), e.g. [3, 4, 5]")
    per_size: int = option(doc="number of tasks generated at each size", ge=1, le=100_000)

    def __post_init__(self) -> None:
        if not self.sizes:
            raise ConfigError("sizes: must be a non-empty list of integers")
        if len(set(self.sizes)) != len(self.sizes):
            raise ConfigError(f"sizes: lists a size twice: {list(self.sizes)}")
        for size in self.sizes:
            try:
                get_generator(self.domain).from_size(size)
            except ConfigError as exc:
                raise ConfigError(f"sizes: size {size}: {exc}") from None


@dataclass(frozen=True)
class TaskSetSpec:
    seed: int = option(0, "global seed; every task's own seed derives from it, its domain, split, size and index",
                       ge=0, lt=2**63)
    splits: tuple[SplitSpec, ...] = option((), "what to generate: one entry per (split, domain), a domain may appear "
                                               "twice in a split with other sizes")
    planner: str = option("constructive", "what writes the reference plans: constructive (each generator's own "
                                          "strategy), naive (simpler, longer strategies a small model can repeat), "
                                          "fast-downward (LAMA-first)",
                          check=lambda v: None if v in PLANNERS else f"must be one of {', '.join(PLANNERS)}")

    def __post_init__(self) -> None:
        if not self.splits:
            raise ConfigError("splits: must be a non-empty list")
        seen = set()
        for i, s in enumerate(self.splits):
            for size in s.sizes:
                if (s.name, s.domain, size) in seen:
                    raise ConfigError(f"splits[{i}]: split {s.name!r} of {s.domain} lists size {size} twice")
                seen.add((s.name, s.domain, size))

    @property
    def split_names(self) -> set[str]:
        return {s.name for s in self.splits}

    def only(self, domains: list[str]) -> TaskSetSpec:
        """The same spec restricted to `domains`."""
        for d in domains:
            get_generator(d)
        kept = tuple(s for s in self.splits if s.domain in domains)
        if not kept:
            raise ConfigError(f"the spec has no splits for domains {', '.join(domains)}")
        return TaskSetSpec(self.seed, kept, self.planner)

    def with_seed(self, seed: int) -> TaskSetSpec:
        return build(TaskSetSpec, {**to_dict(self), "seed": seed}, "tasks")


def load_spec(path: str | Path) -> TaskSetSpec:
    """A spec from YAML or JSON; a file with a top-level `tasks:` (params.yaml) is read from there."""
    path = Path(path)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read spec: {str(exc).splitlines()[0]}", path) from None
    else:
        data = read_yaml(path)
    if isinstance(data, dict) and "tasks" in data:
        data = data["tasks"]
    try:
        return build(TaskSetSpec, data, "tasks", complete=True)
    except ConfigError as exc:
        raise ConfigError(exc.cause, path) from None


def _default_splits() -> tuple[SplitSpec, ...]:
    splits = []
    for name, sizes, per_size in (("train", range(3, 7), 50), ("deploy", range(3, 13), 25), ("test", range(3, 16), 10)):
        for domain in ("blocksworld", "ferry", "miconic", "spanner"):
            splits.append(SplitSpec(name, domain, tuple(sizes), per_size))
    return tuple(splits)


DEFAULT_SPEC = TaskSetSpec(seed=0, splits=_default_splits())
"""Per domain (blocksworld, ferry, miconic, spanner): train on small sizes (3-6, 50 each), deploy on a
ramp (3-12, 25 each), test on 3-15 (10 each); 580 tasks per domain, 2,320 in all."""


def spec_of(taskset_dir: str | Path) -> TaskSetSpec | None:
    """The spec a generated task set was built from (its spec.json), or None when the folder holds no
    complete generated set (missing, imported, unreadable or outdated spec)."""
    folder = Path(taskset_dir)
    if not (folder / "manifest.parquet").is_file():
        return None
    try:
        return build(TaskSetSpec, json.loads((folder / "spec.json").read_text(encoding="utf-8")), "tasks")
    except (OSError, ValueError, ConfigError):
        return None
