"""What task set to generate: typed, checked sections of params.yaml (`tasks:`) or of a spec file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from iterdeploy.config import build, option, read_yaml, to_dict
from iterdeploy.errors import ConfigError
from iterdeploy.tasks.generators import GENERATORS, PLANNERS, get_generator

SPLIT_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
DOMAIN_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}\Z")
"""A collection's domain folder: part of every task id."""


def _split_name(name: str) -> str | None:
    return None if SPLIT_NAME.match(name) else f"{name!r} must match {SPLIT_NAME.pattern[:-2]}"


def _generator(domain: str) -> str | None:
    return None if domain in GENERATORS else f"no generator for {domain!r}; available: {', '.join(sorted(GENERATORS))}"


def _subset(subset: str) -> str | None:
    parts = PurePosixPath(subset).parts
    if not parts or PurePosixPath(subset).is_absolute() or ".." in parts or "\\" in subset or subset != "/".join(parts):
        return f"{subset!r} must be a relative folder of the domain without '..', e.g. testing/easy"
    return None


@dataclass(frozen=True)
class SplitSpec:
    """One entry of `tasks.splits`: tasks of one domain for one split, either generated (sizes, per_size) or
    taken from a PDDL collection laid out like the IPC 2023 Learning Track (collection, subsets, limit)."""

    name: str = option(doc="split the tasks belong to, e.g. train, deploy, test (lower case, digits, _)",
                       check=_split_name)
    domain: str = option(doc="the domain: a built-in generator (generated splits) or a folder of the collection")
    sizes: tuple[int, ...] | None = option(None, "generated split: primary sizes to generate (see each generator's "
                                                 "from_size), e.g. [3, 4, 5]")
    per_size: int | None = option(None, "generated split: number of tasks generated at each size", ge=1, le=100_000)
    collection: str | None = option(None, "collection split: root folder of a PDDL collection laid out like the IPC "
                                          "2023 Learning Track (<domain>/domain.pddl, training/easy, testing/{easy,"
                                          "medium,hard}, optional plans/), relative to the project root or absolute")
    subsets: tuple[str, ...] | None = option(None, "collection split: folders of the domain to take, e.g. "
                                                   "[testing/easy, testing/medium] (null: every training/* and "
                                                   "testing/* folder)")
    limit: int | None = option(None, "collection split: at most this many problems of each subset, the first by "
                                     "file name (null: all)", ge=1, le=1_000_000)

    def __post_init__(self) -> None:
        generated = self.sizes is not None or self.per_size is not None
        collected = self.collection is not None or self.subsets is not None or self.limit is not None
        if generated and collected:
            raise ConfigError("collection: give either sizes and per_size (a generated split) or collection (with "
                              "optional subsets and limit), not both")
        if not generated and not collected:
            raise ConfigError("sizes: missing; give sizes and per_size (a generated split) or collection (a split "
                              "taken from a PDDL collection)")
        if generated:
            if self.sizes is None or self.per_size is None:
                raise ConfigError(f"{'per_size' if self.per_size is None else 'sizes'}: missing (a generated split "
                                  "needs sizes and per_size)")
            problem = _generator(self.domain)
            if problem:
                raise ConfigError(f"domain: {problem}")
            if not self.sizes:
                raise ConfigError("sizes: must be a non-empty list of integers")
            if len(set(self.sizes)) != len(self.sizes):
                raise ConfigError(f"sizes: lists a size twice: {list(self.sizes)}")
            for size in self.sizes:
                try:
                    get_generator(self.domain).from_size(size)
                except ConfigError as exc:
                    raise ConfigError(f"sizes: size {size}: {exc}") from None
            return
        if self.collection is None:
            raise ConfigError("collection: missing (subsets and limit belong to a split taken from a collection)")
        if not self.collection.strip() or "\0" in self.collection:
            raise ConfigError(f"collection: {self.collection!r} is not a folder path")
        if not DOMAIN_NAME.match(self.domain):
            raise ConfigError(f"domain: {self.domain!r} must be a folder name of the collection (lower case, "
                              "digits, '_', '-')")
        if self.subsets is not None:
            if not self.subsets:
                raise ConfigError("subsets: must be a non-empty list (or null: every training/* and testing/* folder)")
            for i, subset in enumerate(self.subsets):
                problem = _subset(subset)
                if problem:
                    raise ConfigError(f"subsets[{i}]: {problem}")
            if len(set(self.subsets)) != len(self.subsets):
                raise ConfigError(f"subsets: lists a folder twice: {list(self.subsets)}")

    @property
    def generated(self) -> bool:
        return self.sizes is not None


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
            if not s.generated:
                key = (s.domain, s.collection, s.subsets)
                if key in seen:
                    raise ConfigError(f"splits[{i}]: takes the same subsets of {s.domain} from {s.collection} as "
                                      "an earlier split")
                seen.add(key)
                continue
            for size in s.sizes:
                if (s.name, s.domain, size) in seen:
                    raise ConfigError(f"splits[{i}]: split {s.name!r} of {s.domain} lists size {size} twice")
                seen.add((s.name, s.domain, size))

    @property
    def split_names(self) -> set[str]:
        return {s.name for s in self.splits}

    @property
    def collections(self) -> tuple[SplitSpec, ...]:
        """The splits taken from PDDL collections."""
        return tuple(s for s in self.splits if not s.generated)

    def only(self, domains: list[str]) -> TaskSetSpec:
        """The same spec restricted to `domains`."""
        for d in domains:
            if not any(s.domain == d and not s.generated for s in self.splits):
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
