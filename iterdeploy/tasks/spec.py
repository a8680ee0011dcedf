"""What task set to generate: typed, checked, constructible from a plain dict (params.yaml `tasks:`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

from iterdeploy.errors import ConfigError, IterdeployError
from iterdeploy.tasks.generators import GENERATORS, REFERENCES, get_generator

SPLIT_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")


def _int(where: str, value, low: int = 0, high: int = 2**63 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _keys(where: str, d, cls) -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(d).__name__}")
    known = [f.name for f in fields(cls)]
    for key in d:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}; expected {', '.join(known)}")


@dataclass(frozen=True)
class SplitSpec:
    name: str
    """Split the tasks belong to, e.g. 'train', 'deploy', 'test' (lower case, digits, '_')."""
    domain: str
    """Generator to use: blocksworld, ferry, miconic or spanner."""
    sizes: tuple[int, ...]
    """Primary sizes to generate (see each generator's `from_size`), e.g. [3, 4, 5]."""
    per_size: int
    """Number of tasks generated at each size."""

    @classmethod
    def from_dict(cls, d, where: str = "split") -> SplitSpec:
        _keys(where, d, cls)
        for key in ("name", "domain", "sizes", "per_size"):
            if key not in d:
                raise ConfigError(f"{where}: missing key {key!r}")
        name, domain, sizes = d["name"], d["domain"], d["sizes"]
        if not isinstance(name, str) or not SPLIT_NAME.match(name):
            raise ConfigError(f"{where}.name must match {SPLIT_NAME.pattern[:-2]}, got {name!r}")
        if domain not in GENERATORS:
            available = ", ".join(sorted(GENERATORS))
            raise ConfigError(f"{where}.domain: no generator for {domain!r}; available: {available}")
        if not isinstance(sizes, (list, tuple)) or not sizes:
            raise ConfigError(f"{where}.sizes must be a non-empty list of integers, got {sizes!r}")
        sizes = tuple(_int(f"{where}.sizes[{i}]", s, 1) for i, s in enumerate(sizes))
        if len(set(sizes)) != len(sizes):
            raise ConfigError(f"{where}.sizes lists a size twice: {list(sizes)}")
        for s in sizes:
            try:
                get_generator(domain).from_size(s)
            except ConfigError as exc:
                raise ConfigError(f"{where}.sizes: size {s}: {exc}") from None
        return cls(name, domain, sizes, _int(f"{where}.per_size", d["per_size"], 1, 100_000))

    def to_dict(self) -> dict:
        return {"name": self.name, "domain": self.domain, "sizes": list(self.sizes), "per_size": self.per_size}


@dataclass(frozen=True)
class TaskSetSpec:
    seed: int
    """Global seed; every task's own seed is derived from it, its domain, split, size and index."""
    splits: tuple[SplitSpec, ...]
    """What to generate: one entry per (split, domain)."""
    reference: str = "constructive"
    """Reference planner for the plan files: 'constructive' (the generator's own) or 'fast-downward'."""

    @classmethod
    def from_dict(cls, d, where: str = "tasks") -> TaskSetSpec:
        _keys(where, d, cls)
        if "seed" not in d or "splits" not in d:
            raise ConfigError(f"{where}: missing key {'seed' if 'seed' not in d else 'splits'!r}")
        seed = _int(f"{where}.seed", d["seed"])
        raw = d["splits"]
        if not isinstance(raw, (list, tuple)) or not raw:
            raise ConfigError(f"{where}.splits must be a non-empty list, got {raw!r}")
        splits = tuple(SplitSpec.from_dict(s, f"{where}.splits[{i}]") for i, s in enumerate(raw))
        seen = set()  # a split may list a domain twice (e.g. more tasks of one size), never a size twice
        for i, s in enumerate(splits):
            for size in s.sizes:
                if (s.name, s.domain, size) in seen:
                    raise ConfigError(f"{where}.splits[{i}]: split {s.name!r} of {s.domain} lists size {size} twice")
                seen.add((s.name, s.domain, size))
        reference = d.get("reference", "constructive")
        if reference not in REFERENCES:
            raise ConfigError(f"{where}.reference must be one of {', '.join(REFERENCES)}, got {reference!r}")
        return cls(seed, splits, reference)

    def to_dict(self) -> dict:
        return {"seed": self.seed, "splits": [s.to_dict() for s in self.splits], "reference": self.reference}

    def only(self, domains: list[str]) -> TaskSetSpec:
        """The same spec restricted to `domains`."""
        for d in domains:
            get_generator(d)
        kept = tuple(s for s in self.splits if s.domain in domains)
        if not kept:
            raise ConfigError(f"the spec has no splits for domains {', '.join(domains)}")
        return TaskSetSpec(self.seed, kept, self.reference)

    def with_seed(self, seed: int) -> TaskSetSpec:
        return TaskSetSpec(_int("seed", seed), self.splits, self.reference)


def load_spec(path: str | Path) -> TaskSetSpec:
    """A spec from YAML or JSON; a file with a top-level `tasks:` (params.yaml) is read from there."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IterdeployError(f"cannot read spec: {exc.strerror}", path) from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml and json raise different types; both mean "not readable"
        raise IterdeployError(f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {str(exc).splitlines()[0]}",
                              path) from None
    if isinstance(data, dict) and "tasks" in data:
        data = data["tasks"]
    try:
        return TaskSetSpec.from_dict(data)
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
