"""The pre-training stream: an endless sequence of fresh tasks, each with a fresh renaming.

Every example is a new task drawn by a generator at a random size of its domain's range (uniform, or
with a geometric tail: few large tasks, as few long plans are in a language model's data), renamed
with a new seed, and written in the compact format with its naive plan in the prompt's own order
(`naive_plan_for(task, fmt.ordered_state(...))`): every plan step is then a lookup next to the
previous one, a procedure that does not depend on the task's size. Tasks whose content hash is in
`exclude` (the loop's deployment and test tasks) are skipped, so no evaluated task is ever trained on.

The stream is a pure function of its seed: example i depends on (seed, i) only.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Iterator

from iterdeploy.config import option
from iterdeploy.errors import ConfigError
from iterdeploy.planning import Task, validate
from iterdeploy.planning.pddl import parse_domain, parse_problem
from iterdeploy.prompts.compact import CompactFormat
from iterdeploy.tasks.domains import domain_text
from iterdeploy.tasks.generators import format_plan, get_generator
from iterdeploy.tasks.records import content_hash


@dataclass(frozen=True)
class DomainRange:
    """One domain of the stream and the sizes it is drawn at."""

    domain: str = option(doc="a generator with a naive planner (blocksworld, ferry, spanner)")
    min_size: int = option(doc="smallest primary size drawn", ge=1)
    max_size: int = option(doc="largest primary size drawn (inclusive)", ge=1)
    weight: float = option(1.0, "relative share of the stream's examples", gt=0, le=1e6)
    size_decay: float = option(1.0, "each size is drawn this many times as often as the size below it "
                                    "(1: uniform; below 1: a thin tail of large tasks)", gt=0, le=1)

    def __post_init__(self) -> None:
        gen = get_generator(self.domain)
        if not hasattr(gen, "naive_plan_for"):
            raise ConfigError(f"{self.domain}: no naive planner to write pre-training plans with")
        if self.min_size > self.max_size:
            raise ConfigError(f"min_size: {self.min_size} is above max_size {self.max_size}")
        for size in (self.min_size, self.max_size):
            gen.from_size(size)  # refuses sizes the generator cannot build


@dataclass(frozen=True)
class Example:
    prompt: str
    completion: str
    domain: str
    size: int
    task_hash: str
    """Content hash of the task (iterdeploy.tasks.records.content_hash)."""


def size_weights(spec: DomainRange) -> list[float]:
    """Relative frequency of each size of `spec`, smallest first."""
    return [spec.size_decay ** i for i in range(spec.max_size - spec.min_size + 1)]


def draw_size(rng: random.Random, spec: DomainRange) -> int:
    if spec.size_decay == 1.0:  # uniform, as drawn before size_decay existed: old streams stay the same
        return rng.randint(spec.min_size, spec.max_size)
    return rng.choices(range(spec.min_size, spec.max_size + 1), weights=size_weights(spec))[0]


def example_seed(seed: int, index: int) -> int:
    digest = hashlib.sha256(f"pretrain/{seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class TaskStream:
    """Fresh (task, renaming) examples for `domains`, skipping tasks whose content hash is in `exclude`."""

    def __init__(self, domains: list[DomainRange], fmt: CompactFormat, seed: int = 0,
                 exclude: frozenset[str] = frozenset()):
        if not domains:
            raise ConfigError("the pre-training stream needs at least one domain")
        self.domains = list(domains)
        self.fmt = fmt
        self.seed = seed
        self.exclude = exclude
        self.excluded = 0
        """Tasks drawn and skipped because they are in `exclude`."""
        self._parsed = {d.domain: parse_domain(domain_text(d.domain)) for d in self.domains}
        self._weights = [d.weight for d in self.domains]

    def example(self, index: int) -> Example | None:
        """Example `index`, or None when its task is excluded."""
        rng = random.Random(example_seed(self.seed, index))
        spec = rng.choices(self.domains, weights=self._weights)[0]
        size = draw_size(rng, spec)
        gen = get_generator(spec.domain)
        problem = gen.generate(gen.from_size(size), rng, f"{spec.domain}-stream-{index}").problem
        digest = content_hash(problem)
        if digest in self.exclude:
            self.excluded += 1
            return None
        domain = self._parsed[spec.domain]
        task = Task(domain, parse_problem(problem, domain))
        renaming = rng.randrange(2**31)
        plan = gen.naive_plan_for(task, self.fmt.ordered_state(task, renaming))
        verdict = validate(task, format_plan(plan))
        if not verdict.valid:  # the naive planners are tested; a failure here is a bug, never data
            raise RuntimeError(f"{spec.domain} naive plan for stream example {index} is invalid: {verdict}")
        return Example(self.fmt.prompt(task, renaming), self.fmt.completion(task, plan, renaming),
                       spec.domain, size, digest)

    def __iter__(self) -> Iterator[Example]:
        index = 0
        while True:
            ex = self.example(index)
            index += 1
            if ex is not None:
                yield ex
