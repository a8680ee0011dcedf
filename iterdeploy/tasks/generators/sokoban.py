"""Sokoban: a robot pushes boxes, each to its own goal cell, on a walled grid.

Shaped like the IPC files: a square grid (`grid` cells a side, walls all around,
every cell an object loc_<row>_<col>, adjacency only between free cells), interior
cells walls with probability 1/2, then an open area carved by a random walk (about
40% of the interior), boxes with one goal cell each, and the map drawn in the
header comment.

Every task is solvable and its start has no dead box, by construction: boxes are
put on their goals and then *pulled* away by a random reverse game (the robot
walks to a box and pulls it one cell towards itself, the inverse of a push), so
reading the game backwards solves the task. The reference plan is that reverse
game read forwards, with each walk between two pushes replaced by a shortest walk
(breadth-first, directions in a fixed order), and detours cut: the plan stops once
every box is home, and pushes that bring the boxes back to an earlier position
(the robot in the same area) are left out. The reverse game never pulls a box
straight back the way it last came (that would only add pushes), keeps pulling the
same box the same way with probability 0.6, and prefers boxes still on their goals. A draw is kept only if every box
ends away from its own goal; else the grid is drawn again, up to 50 times, after
which generation stops with a ConfigError.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from iterdeploy.errors import ConfigError
from iterdeploy.tasks.generators.base import GeneratedTask, check_int, header, problem_text

NAME = "sokoban"
PRIMARY = "boxes"
DIRECTIONS = (("down", 1, 0), ("left", 0, -1), ("up", -1, 0), ("right", 0, 1))
"""The order IPC lists adjacency in; also the order walks are searched in."""
OPPOSITE = {"down": "up", "up": "down", "left": "right", "right": "left"}
ATTEMPTS = 50

Cell = tuple[int, int]


@dataclass(frozen=True)
class Params:
    grid: int
    """Cells per side, the border walls included (5 or more)."""
    boxes: int
    """Number of boxes, each with its own goal cell."""

    def __post_init__(self) -> None:
        check_int(NAME, "grid", self.grid, 5, 60)
        check_int(NAME, "boxes", self.boxes, 1, 200)
        most = max_boxes(self.grid)
        if self.boxes > most:
            raise ConfigError(f"{NAME}: parameter 'boxes' must be at most {most} for grid={self.grid} "
                              f"(a tenth of the interior cells), got {self.boxes}")


def max_boxes(grid: int) -> int:
    return max(1, (grid - 2) ** 2 // 10)


def from_size(size: int) -> Params:
    """Primary size = boxes; grid = min(2 x boxes + 6, boxes + 15) (IPC: 1 box in 7-9 cells a side,
    2 in 9-10, 3 in 11-12, 4 in 12-13, then boxes + 15: 5 in 20, 34 in 49)."""
    check_int(NAME, "size (boxes)", size, 1, 45)
    return Params(grid=min(2 * size + 6, size + 15), boxes=size)


def step(cell: Cell, di: int, dj: int) -> Cell:
    return cell[0] + di, cell[1] + dj


def draw_floor(n: int, rng: random.Random) -> tuple[set[Cell], Cell]:
    """Free cells (random walls, then a carved walk) and where the carving started."""
    interior = [(i, j) for i in range(2, n) for j in range(2, n)]
    free = {c for c in interior if rng.random() < 0.5}
    start = rng.choice(interior)
    carved = {start}
    here = start
    target = max(4, (2 * len(interior)) // 5)
    while len(carved) < target:
        _, di, dj = rng.choice(DIRECTIONS)
        nxt = step(here, di, dj)
        if 2 <= nxt[0] < n and 2 <= nxt[1] < n:
            here = nxt
            carved.add(here)
    return free | carved, start


def reachable(free: set[Cell], boxes: set[Cell], start: Cell) -> dict[Cell, tuple[Cell, str] | None]:
    """Cells the robot can walk to, each with the cell and direction it was first reached from."""
    came: dict[Cell, tuple[Cell, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        for name, di, dj in DIRECTIONS:
            nxt = step(cell, di, dj)
            if nxt in free and nxt not in boxes and nxt not in came:
                came[nxt] = (cell, name)
                queue.append(nxt)
    return came


def walk(came: dict[Cell, tuple[Cell, str] | None], to: Cell) -> list[str]:
    moves = []
    while came[to] is not None:
        before, name = came[to]
        moves.append(f"(move {loc(before)} {loc(to)} {name})")
        to = before
    return moves[::-1]


def loc(cell: Cell) -> str:
    return f"loc_{cell[0]}_{cell[1]}"


def reverse_game(free: set[Cell], goals: list[Cell], robot: Cell, pulls: int, rng: random.Random):
    """Pull boxes away from their goals. Returns the boxes' cells, the robot's cell and the pushes that
    undo the pulls, last pull first: (robot cell, box cell, direction name, box index)."""
    at = list(goals)
    pushes = []
    last = None
    pulled: dict[int, str] = {}  # box -> direction of its last pull, never reversed (that undoes it)
    for _ in range(pulls):
        occupied = set(at)
        came = reachable(free, occupied, robot)
        options = []  # (box, direction): robot at p next to box b = p + d steps back to p - d, box to p
        for b, cell in enumerate(at):
            for name, di, dj in DIRECTIONS:
                p, back = step(cell, -di, -dj), step(cell, -2 * di, -2 * dj)
                if p in came and back in free and back not in occupied and pulled.get(b) != OPPOSITE[name]:
                    options.append((b, name, di, dj))
        if not options:
            break
        same = [o for o in options if last is not None and o[:2] == last]
        home = [o for o in options if at[o[0]] == goals[o[0]]]
        if same and rng.random() < 0.6:
            b, name, di, dj = same[0]
        elif home and rng.random() < 0.7:
            b, name, di, dj = rng.choice(home)
        else:
            b, name, di, dj = rng.choice(options)
        p = step(at[b], -di, -dj)
        robot = step(p, -di, -dj)
        pushes.append((robot, p, name, b))
        at[b] = p
        pulled[b] = name
        last = (b, name)
    return at, robot, pushes[::-1]


def shortcut(free: set[Cell], boxes: list[Cell], robot: Cell, goals: list[Cell], pushes) -> list:
    """The pushes without detours: stop once every box is home, and where the boxes come back to where
    they were with the robot in the same area, drop the pushes in between."""
    states = []  # (box cells, the robot's area as its smallest reachable cell) before each push, and at the end
    at = list(boxes)
    for k in range(len(pushes) + 1):
        states.append((tuple(at), min(reachable(free, set(at), robot))))
        if k < len(pushes):
            _, box_cell, name, b = pushes[k]
            _, di, dj = next(d for d in DIRECTIONS if d[0] == name)
            at[b], robot = step(box_cell, di, dj), box_cell
    last = {state: k for k, state in enumerate(states)}
    kept, k = [], 0
    while list(states[k][0]) != goals:
        k = last[states[k]]
        kept.append(pushes[k])
        k += 1
    return kept


def forward_plan(free: set[Cell], boxes: list[Cell], robot: Cell, pushes) -> list[str]:
    at = list(boxes)
    plan: list[str] = []
    for stand, box_cell, name, b in pushes:
        came = reachable(free, set(at), robot)
        plan += walk(came, stand)
        _, di, dj = next(d for d in DIRECTIONS if d[0] == name)
        dest = step(box_cell, di, dj)
        plan.append(f"(push {loc(stand)} {loc(box_cell)} {loc(dest)} {name} box{b + 1})")
        at[b], robot = dest, box_cell
    return plan


def draw_map(n: int, free: set[Cell], boxes: list[Cell], goals: list[Cell], robot: Cell) -> str:
    """The grid as a comment: # wall, . floor, G goal, box numbers, R robot."""
    lines = []
    for i in range(1, n + 1):
        row = []
        for j in range(1, n + 1):
            c = (i, j)
            mark = "#" if c not in free else "."
            if c in goals:
                mark = "G"
            if c in boxes:
                mark = str(boxes.index(c) + 1)
            if c == robot:
                mark = "R"
            row.append(f"{mark:>3}")
        lines.append(";; " + "".join(row))
    return "\n".join(lines) + "\n"


def generate(params: Params, rng: random.Random, name: str = "sokoban") -> GeneratedTask:
    n, k = params.grid, params.boxes
    for _ in range(ATTEMPTS):
        floor, start = draw_floor(n, rng)
        area = sorted(reachable(floor, set(), start))
        if len(area) < 2 * k + 2:
            continue
        free = set(floor)
        goals = rng.sample(area, k)
        robot = rng.choice([c for c in area if c not in goals])
        boxes, robot, pushes = reverse_game(free, goals, robot, rng.randint(3 * k, 6 * k), rng)
        if any(b == g for b, g in zip(boxes, goals)):
            continue
        robot = rng.choice(sorted(reachable(free, set(boxes), robot)))
        break
    else:
        raise ConfigError(f"{NAME}: could not draw a task with boxes={k} in grid={n} in {ATTEMPTS} attempts")
    cells = [(i, j) for i in range(1, n + 1) for j in range(1, n + 1)]
    init = [f"(at-robot {loc(robot)})"] + [f"(at box{b + 1} {loc(c)})" for b, c in enumerate(boxes)]
    init += [f"(clear {loc(c)})" for c in cells if c in free and c not in boxes]
    for c in cells:
        if c in free:
            for dname, di, dj in DIRECTIONS:
                if step(c, di, dj) in free:
                    init.append(f"(adjacent {loc(c)} {loc(step(c, di, dj))} {dname})")
    text = problem_text(NAME, name, params, [([loc(c) for c in cells], "location"),
                                             ([f"box{b + 1}" for b in range(k)], "box")],
                        init, [f"(at box{b + 1} {loc(g)})" for b, g in enumerate(goals)])
    first = header(params)
    text = first.rstrip("\n") + "\n;;\n" + draw_map(n, free, boxes, goals, robot) + ";;\n\n" + text[len(first):]
    pushes = shortcut(free, boxes, robot, goals, pushes)
    return GeneratedTask(text, tuple(forward_plan(free, boxes, robot, pushes)))
