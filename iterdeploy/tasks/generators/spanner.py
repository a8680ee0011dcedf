"""Spanner: walk a one-way corridor from the shed to the gate, collecting spanners for the nuts.

As in the IPC files, bob starts in the shed, the corridor is shed -> location1 ->
... -> locationN -> gate, spanners lie at random corridor locations, all nuts are
loose at the gate, and each spanner tightens one nut. Links are one-way, so a
spanner passed by is lost. The reference plan walks the corridor once, picking up
spanners until it carries one per nut, then tightens every nut at the gate; it is
optimal (every walk and every pickup is needed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from iterdeploy.errors import ConfigError
from iterdeploy.tasks.generators.base import GeneratedTask, check_int, problem_text

NAME = "spanner"
PRIMARY = "nuts"


@dataclass(frozen=True)
class Params:
    spanners: int
    """Number of spanners (at least `nuts`: each tightens one nut)."""
    nuts: int
    """Number of loose nuts at the gate."""
    locations: int
    """Number of corridor locations between the shed and the gate."""

    def __post_init__(self) -> None:
        check_int(NAME, "nuts", self.nuts, 1, 500)
        check_int(NAME, "spanners", self.spanners, 1, 1000)
        check_int(NAME, "locations", self.locations, 1, 500)
        if self.spanners < self.nuts:
            raise ConfigError(f"{NAME}: parameter 'spanners' must be at least nuts={self.nuts} "
                              f"(each spanner tightens one nut), got {self.spanners}")


def from_size(size: int) -> Params:
    """Primary size = nuts; spanners = 2 * nuts, locations = max(4, 2 * nuts) (IPC: 1/2/4, 5/10/10)."""
    check_int(NAME, "size (nuts)", size, 1, 250)
    return Params(spanners=2 * size, nuts=size, locations=max(4, 2 * size))


def corridor_plan(corridor: list[str], spanner_at: dict[str, str], nuts: list[str]) -> list[str]:
    plan: list[str] = []
    carried: list[str] = []
    for here, there in zip(corridor, corridor[1:]):
        for s in spanner_at:
            if spanner_at[s] == here and len(carried) < len(nuts):
                plan.append(f"(pickup_spanner {here} {s} bob)")
                carried.append(s)
        plan.append(f"(walk {here} {there} bob)")
    gate = corridor[-1]
    plan += [f"(tighten_nut {gate} {s} bob {n})" for s, n in zip(carried, nuts)]
    return plan


def naive_plan_for(task, order: tuple[list, list] | None = None) -> list[str]:
    """Walk the corridor picking up every spanner met (no counting), then tighten the nuts at the gate,
    pairing them in order with the spanners in order. Longer than `corridor_plan` when spanners
    outnumber nuts.

    With `order` (initial and goal atoms in some listing order, e.g. a prompt's), spanners at one place
    are picked up in the order of their `at` atoms, the nuts are taken in the order of their goal atoms
    and the spanners in the order of their `usable` atoms; without it, by name."""
    init_order, goal_order = order if order is not None else (sorted(task.init), sorted(task.goal_pos))
    link = {a[1]: a[2] for a in task.init if a[0] == "link"}
    man = next(a[1] for a in task.init if a[0] == "at" and task.problem.objects[a[1]] == "man")
    here = next(a[2] for a in task.init if a[0] == "at" and a[1] == man)
    at = {}
    for a in init_order:
        if a[0] == "at" and task.problem.objects[a[1]] == "spanner":
            at.setdefault(a[2], []).append(a[1])
    nuts = [a[1] for a in goal_order if a[0] == "tightened"]
    plan, carried = [], set()
    while True:
        for s in at.get(here, []):
            plan.append(f"(pickup_spanner {here} {s} {man})")
            carried.add(s)
        if here not in link:
            break
        plan.append(f"(walk {here} {link[here]} {man})")
        here = link[here]
    spanners = [a[1] for a in init_order if a[0] == "usable" and a[1] in carried]
    return plan + [f"(tighten_nut {here} {s} {man} {n})" for s, n in zip(spanners, nuts)]


def generate(params: Params, rng: random.Random, name: str = "spanner") -> GeneratedTask:
    spanners = [f"spanner{i}" for i in range(1, params.spanners + 1)]
    nuts = [f"nut{i}" for i in range(1, params.nuts + 1)]
    middle = [f"location{i}" for i in range(1, params.locations + 1)]
    corridor = ["shed"] + middle + ["gate"]
    spanner_at = {s: rng.choice(middle) for s in spanners}
    init = ["(at bob shed)"]
    for s in spanners:
        init += [f"(at {s} {spanner_at[s]})", f"(usable {s})"]
    for n in nuts:
        init += [f"(at {n} gate)", f"(loose {n})"]
    init += [f"(link {a} {b})" for a, b in zip(corridor, corridor[1:])]
    text = problem_text(NAME, name, params, [(["bob"], "man"), (spanners, "spanner"), (nuts, "nut"),
                                             (corridor, "location")],
                        init, [f"(tightened {n})" for n in nuts])
    return GeneratedTask(text, tuple(corridor_plan(corridor, spanner_at, nuts)))
