"""Blocksworld (4 operators): uniformly random initial and goal states, US-style reference plans.

States are drawn uniformly from all states of n blocks, as Slaney & Thiebaux's
bwstates (the IPC generator) does: with towers counted by the Lah numbers
L(n, k) = C(n-1, k-1) n!/k!, pick k towers with probability L(n, k)/sum, then cut a
random permutation at k-1 random places. Goals are full states, as in the IPC files.

Reference plans follow the "US" strategy (Gupta & Nau's GN1 family): blocks already
in their final position stay; a clear block whose goal destination is ready goes
there directly; otherwise a misplaced block goes to the table, taken from the
tower where a constructive move is fewest blocks down. Every block moves at most
twice, so plans are at most twice optimal and usually close to optimal.

`naive_plan` is the textbook strategy instead ("unstack everything, then build"):
every tower is taken apart top-down onto the table, then every goal tower is built
bottom-up. Up to twice as long, but each step is a lookup a small model can learn
and repeat on larger tasks (reference `naive`, the embedded model's default).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from iterdeploy.tasks.generators.base import GeneratedTask, check_int, problem_text

NAME = "blocksworld"
PRIMARY = "blocks"
MAX_BLOCKS = 500

Towers = list[list[str]]
"""Towers listed bottom to top."""
StateOrder = tuple[list[tuple[str, ...]], list[tuple[str, ...]]]
"""Initial-state and goal atoms in a listing order (what `naive_plan_for` follows)."""


@dataclass(frozen=True)
class Params:
    blocks: int
    """Number of blocks (2 or more: one block has no task that needs a plan)."""

    def __post_init__(self) -> None:
        check_int(NAME, "blocks", self.blocks, 2, MAX_BLOCKS)


def from_size(size: int) -> Params:
    """Primary size = blocks."""
    return Params(blocks=size)


def random_state(blocks: list[str], rng: random.Random) -> Towers:
    n = len(blocks)
    weights = [math.comb(n - 1, k - 1) * math.factorial(n) // math.factorial(k) for k in range(1, n + 1)]
    r = rng.randrange(sum(weights))
    k = 1
    for k, w in enumerate(weights, start=1):
        if r < w:
            break
        r -= w
    order = list(blocks)
    rng.shuffle(order)
    cuts = [0] + sorted(rng.sample(range(1, n), k - 1)) + [n]
    towers = [order[a:b] for a, b in zip(cuts, cuts[1:])]
    # Listing order carries no meaning; a fixed one makes equal states equal texts.
    return sorted(towers, key=lambda t: _index(t[0]))


def _index(block: str) -> int:
    return int(block[1:])


def state_atoms(towers: Towers) -> list[str]:
    """Per tower, top to bottom: (clear top) (on x y)... (on-table bottom), as IPC writes them."""
    atoms = []
    for tower in towers:
        atoms.append(f"(clear {tower[-1]})")
        for above, below in zip(reversed(tower[1:]), reversed(tower[:-1])):
            atoms.append(f"(on {above} {below})")
        atoms.append(f"(on-table {tower[0]})")
    return atoms


def _support(towers: Towers) -> dict[str, str | None]:
    """Block -> the block it stands on (None: the table)."""
    return {b: (t[i - 1] if i else None) for t in towers for i, b in enumerate(t)}


def us_plan(init: Towers, goal: Towers) -> list[str]:
    on = _support(init)
    goal_on = _support(goal)
    blocks = sorted(on, key=_index)
    plan: list[str] = []

    def move(block: str, dest: str | None) -> None:
        below = on[block]
        plan.append(f"(pickup {block})" if below is None else f"(unstack {block} {below})")
        plan.append(f"(putdown {block})" if dest is None else f"(stack {block} {dest})")
        on[block] = dest

    while True:
        final: dict[str, bool] = {}

        def is_final(b: str) -> bool:
            if b not in final:
                below = on[b]
                final[b] = below == goal_on[b] and (below is None or is_final(below))
            return final[b]

        covered = {b for b in on.values() if b is not None}

        def ready(b: str) -> bool:
            return goal_on[b] is None or (goal_on[b] not in covered and is_final(goal_on[b]))

        clear = [b for b in blocks if b not in covered and not is_final(b)]
        if not clear:
            return plan
        constructive = [b for b in clear if ready(b)]
        if constructive:
            move(constructive[0], goal_on[constructive[0]])
            continue
        stacked = [b for b in clear if on[b] is not None]
        if not stacked:  # cannot happen: a misplaced clear block on the table has a ready goal or a blocker
            raise RuntimeError("blocksworld reference planner is stuck; this is a bug")
        wanted = {goal_on[b] for b in blocks if goal_on[b] is not None and not is_final(b)}

        def blocks_to_useful(top: str) -> int:
            """How many blocks down the tower until one whose uncovering allows a constructive move."""
            depth, below = 1, on[top]
            while below is not None:
                if (below in wanted and is_final(below)) or (not is_final(below) and ready(below)):
                    return depth
                depth, below = depth + 1, on[below]
            return len(blocks)

        # Unstack where a constructive move comes soonest: fewer blocks parked on the table overall.
        move(min(stacked, key=blocks_to_useful), None)


def _towers(on: dict[str, str], on_table: set[str]) -> Towers:
    above = {below: block for block, below in on.items()}
    towers = []
    for bottom in sorted(on_table, key=_index):
        tower = [bottom]
        while tower[-1] in above:
            tower.append(above[tower[-1]])
        towers.append(tower)
    return towers


def naive_plan(init: Towers, goal: Towers) -> list[str]:
    """Unstack every tower top-down onto the table, then build every goal tower bottom-up."""
    plan = []
    for tower in init:
        for block, below in zip(reversed(tower[1:]), reversed(tower[:-1])):
            plan += [f"(unstack {block} {below})", f"(putdown {block})"]
    for tower in goal:
        for below, block in zip(tower, tower[1:]):
            plan += [f"(pickup {block})", f"(stack {block} {below})"]
    return plan


def naive_plan_for(task, order: StateOrder | None = None) -> list[str]:
    """`naive_plan` of a parsed blocksworld task (iterdeploy.planning.Task) with a full goal state.

    With `order` (the initial and goal atoms in some listing order, e.g. a prompt's), towers are taken
    apart and built in the order their atoms are listed; without it, by block name."""
    def towers(atoms, listed) -> Towers:
        on = {a[1]: a[2] for a in atoms if a[0] == "on"}
        on_table = {a[1] for a in atoms if a[0] == "on-table"}
        if len(on) + len(on_table) != len(task.problem.objects):
            raise ValueError(f"task {task.name}: the naive blocksworld plan needs a full state")
        result = _towers(on, on_table)
        if listed is not None:
            first = {}
            for i, atom in enumerate(listed):
                for obj in atom[1:]:
                    first.setdefault(obj, i)
            result.sort(key=lambda tower: min(first.get(b, len(first)) for b in tower))
        return result

    init_order, goal_order = order if order is not None else (None, None)
    return naive_plan(towers(task.init, init_order), towers(task.goal_pos, goal_order))


def generate(params: Params, rng: random.Random, name: str = "blocksworld") -> GeneratedTask:
    blocks = [f"b{i}" for i in range(1, params.blocks + 1)]
    init = random_state(blocks, rng)
    goal = random_state(blocks, rng)
    while goal == init:
        goal = random_state(blocks, rng)
    text = problem_text(NAME, name, params, [(blocks, "object")],
                        ["(arm-empty)"] + state_atoms(init), state_atoms(goal))
    return GeneratedTask(text, tuple(us_plan(init, goal)))
