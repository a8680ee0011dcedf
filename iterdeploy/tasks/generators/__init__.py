"""Built-in task generators, one module per domain.

Each module has `NAME`, `PRIMARY` (the parameter its primary size sets), a frozen
`Params` dataclass that rejects bad values with ConfigError, `from_size(size)`, and
`generate(params, rng, name) -> GeneratedTask` (problem text and constructive plan), one for each
of the ten IPC 2023 Learning Track domains.
`generate_task` is the entry point: it also checks the plan with our validator,
so a generator bug can never reach a task set.
"""

from __future__ import annotations

import random
from types import ModuleType

from iterdeploy.errors import ConfigError
from iterdeploy.planning import task_from_text, validate
from iterdeploy.tasks.domains import domain_text
from iterdeploy.tasks.generators import (blocksworld, childsnack, ferry, floortile, miconic, rovers, satellite,
                                        sokoban, spanner, transport)
from iterdeploy.tasks.generators.base import GeneratedTask, format_plan, params_dict

GENERATORS: dict[str, ModuleType] = {m.NAME: m for m in (blocksworld, childsnack, ferry, floortile, miconic, rovers,
                                                          satellite, sokoban, spanner, transport)}
PLANNERS = ("constructive", "naive", "fast-downward")
"""constructive: each generator's own strategy; naive: a simpler, longer strategy where a generator has
one (blocksworld: unstack everything, then build), else the constructive plan; fast-downward: LAMA-first."""

__all__ = ["GENERATORS", "PLANNERS", "GeneratedTask", "format_plan", "generate_task",
           "get_generator", "params_dict"]


def get_generator(domain: str) -> ModuleType:
    try:
        return GENERATORS[domain]
    except (KeyError, TypeError):
        raise ConfigError(f"no generator for domain {domain!r}; available: {', '.join(sorted(GENERATORS))}") from None


def generate_task(domain: str, params, rng: random.Random, name: str | None = None,
                  planner: str = "constructive") -> GeneratedTask:
    """A task and its reference plan; `params` is the generator's Params or an int primary size."""
    gen = get_generator(domain)
    if isinstance(params, int) and not isinstance(params, bool):
        params = gen.from_size(params)
    if planner not in PLANNERS:
        raise ConfigError(f"planner must be one of {', '.join(PLANNERS)}, got {planner!r}")
    task = gen.generate(params, rng, name or domain)
    if planner == "fast-downward":
        from iterdeploy.tasks.fast_downward import fast_downward_plan  # optional: needs up-fast-downward

        task = GeneratedTask(task.problem, tuple(fast_downward_plan(domain_text(domain), task.problem)))
    parsed = task_from_text(domain_text(domain), task.problem)
    if planner == "naive" and hasattr(gen, "naive_plan_for"):
        task = GeneratedTask(task.problem, tuple(gen.naive_plan_for(parsed)))
    verdict = validate(parsed, list_steps(task.plan))
    if not verdict.valid:
        raise RuntimeError(f"{domain} {planner} reference plan for {params} is invalid ({verdict}); this is a bug")
    return task


def list_steps(plan: tuple[str, ...]) -> str:
    return "".join(f"{a}\n" for a in plan)
