"""Miconic (STRIPS elevator): passengers with random origin and destination floors.

As in the IPC files, `(above f_i f_j)` holds for every i < j (transitive closure,
f_j is higher), so `up`/`down` move the lift to any floor in one step. The
reference plan is an elevator sweep (SCAN): the lift keeps its direction, stops at
the nearest floor where someone waits or a rider gets off, lets riders off and
waiting passengers on, and turns only when nothing is left ahead. Both starting
directions are tried and the shorter plan kept.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from iterdeploy.tasks.generators.base import GeneratedTask, check_int, problem_text

NAME = "miconic"
PRIMARY = "passengers"


@dataclass(frozen=True)
class Params:
    floors: int
    """Number of floors (2 or more)."""
    passengers: int
    """Number of passengers, each travelling between two different floors."""

    def __post_init__(self) -> None:
        check_int(NAME, "floors", self.floors, 2, 300)
        check_int(NAME, "passengers", self.passengers, 1, 1000)


def from_size(size: int) -> Params:
    """Primary size = passengers; floors = max(4, 2 * passengers) (the IPC easy sets: 1/4, 5/10, 10/20)."""
    check_int(NAME, "size (passengers)", size, 1, 150)
    return Params(floors=max(4, 2 * size), passengers=size)


def sweep_plan(lift: int, origin: dict[str, int], destin: dict[str, int], upward: bool) -> list[str]:
    """Floors are numbers here (1 = lowest); passengers are served in name order at each stop."""
    waiting = dict(origin)
    riding: dict[str, int] = {}
    plan: list[str] = []
    here = lift
    while True:
        for p in [p for p, f in riding.items() if f == here]:
            plan.append(f"(depart f{here} {p})")
            del riding[p]
        for p in [p for p, f in waiting.items() if f == here]:
            plan.append(f"(board f{here} {p})")
            riding[p] = destin[p]
            del waiting[p]
        stops = set(waiting.values()) | set(riding.values())
        if not stops:
            return plan
        ahead = [f for f in stops if (f > here if upward else f < here)]
        if not ahead:
            upward = not upward
            ahead = [f for f in stops if (f > here if upward else f < here)]
        target = min(ahead) if upward else max(ahead)
        plan.append(f"({'up' if upward else 'down'} f{here} f{target})")
        here = target


def generate(params: Params, rng: random.Random, name: str = "miconic") -> GeneratedTask:
    floors = list(range(1, params.floors + 1))
    passengers = [f"p{i}" for i in range(1, params.passengers + 1)]
    lift = rng.choice(floors)
    origin, destin = {}, {}
    for p in passengers:
        origin[p] = rng.choice(floors)
        destin[p] = rng.choice([f for f in floors if f != origin[p]])
    init = [f"(lift-at f{lift})"]
    for p in passengers:
        init += [f"(origin {p} f{origin[p]})", f"(destin {p} f{destin[p]})"]
    init += [f"(above f{i} f{j})" for i in floors for j in floors if i < j]
    text = problem_text(NAME, name, params, [(passengers, "passenger"), ([f"f{i}" for i in floors], "floor")],
                        init, [f"(served {p})" for p in passengers])
    plans = [sweep_plan(lift, origin, destin, upward) for upward in (True, False)]
    return GeneratedTask(text, tuple(min(plans, key=len)))
