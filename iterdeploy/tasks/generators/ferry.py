"""Ferry: one ferry, fully connected locations, each car to be carried to another location.

As in the IPC generator, the ferry and every car start at random locations and
every car's goal location differs from its start. The reference plan carries cars
one at a time (the ferry holds one car); it takes next a car waiting where the
ferry already is, and otherwise one whose destination has another car waiting, so
that empty sails are rare. No sail is ever made to the ferry's own location.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from iterdeploy.tasks.generators.base import GeneratedTask, check_int, problem_text

NAME = "ferry"
PRIMARY = "cars"


@dataclass(frozen=True)
class Params:
    locations: int
    """Number of locations (2 or more)."""
    cars: int
    """Number of cars, each starting away from its goal location."""

    def __post_init__(self) -> None:
        check_int(NAME, "locations", self.locations, 2, 500)
        check_int(NAME, "cars", self.cars, 1, 1000)


def from_size(size: int) -> Params:
    """Primary size = cars; locations = cars // 2 + 5 (the IPC easy sets: 1 car/5, 10/10, 20/15)."""
    check_int(NAME, "size (cars)", size, 1, 1000)
    return Params(locations=size // 2 + 5, cars=size)


def carry_plan(ferry_at: str, at: dict[str, str], goal: dict[str, str]) -> list[str]:
    waiting = {c: loc for c, loc in at.items() if loc != goal[c]}
    waiting_at = Counter(waiting.values())
    plan: list[str] = []
    here = ferry_at

    def preference(car: str) -> tuple[bool, bool, int]:
        return (waiting[car] != here, waiting_at[goal[car]] == 0, int(car[3:]))

    while waiting:
        car = min(waiting, key=preference)
        if waiting[car] != here:
            plan.append(f"(sail {here} {waiting[car]})")
            here = waiting[car]
        plan.append(f"(board {car} {here})")
        plan.append(f"(sail {here} {goal[car]})")
        here = goal[car]
        plan.append(f"(debark {car} {here})")
        waiting_at[waiting.pop(car)] -= 1
    return plan


def naive_plan_for(task, order: tuple[list, list] | None = None) -> list[str]:
    """One car at a time, in the order the cars' initial atoms are listed (by name without `order`):
    sail to the car unless the ferry is there, board, sail to its goal, debark. Longer than
    `carry_plan`, which picks the next car to save sails, but every step is a lookup."""
    init_order = order[0] if order is not None else sorted(task.init)
    here = next(a[1] for a in task.init if a[0] == "at-ferry")
    goal = {a[1]: a[2] for a in task.goal_pos if a[0] == "at"}
    plan = []
    for atom in init_order:
        if atom[0] != "at" or goal.get(atom[1], atom[2]) == atom[2]:
            continue
        car, start = atom[1], atom[2]
        if here != start:
            plan.append(f"(sail {here} {start})")
        plan += [f"(board {car} {start})", f"(sail {start} {goal[car]})", f"(debark {car} {goal[car]})"]
        here = goal[car]
    return plan


def generate(params: Params, rng: random.Random, name: str = "ferry") -> GeneratedTask:
    locations = [f"loc{i}" for i in range(1, params.locations + 1)]
    cars = [f"car{i}" for i in range(1, params.cars + 1)]
    ferry_at = rng.choice(locations)
    at, goal = {}, {}
    for car in cars:
        at[car] = rng.choice(locations)
        goal[car] = rng.choice([loc for loc in locations if loc != at[car]])
    text = problem_text(
        NAME, name, params, [(cars, "car"), (locations, "location")],
        ["(empty-ferry)", f"(at-ferry {ferry_at})"] + [f"(at {c} {at[c]})" for c in cars],
        [f"(at {c} {goal[c]})" for c in cars],
    )
    return GeneratedTask(text, tuple(carry_plan(ferry_at, at, goal)))
