"""Floortile: robots paint a grid of tiles in a checkerboard of white and black.

As in the IPC files, the grid has rows 0..rows and columns 1..columns; rows 1..rows
must be painted (tile_i_j white when i + j is even, black otherwise) and row 0 is
never painted. Robots start in distinct random columns at random rows, each
holding a random colour. A painted tile cannot be entered, and a robot paints only
the tile above or below it.

The reference plan splits the columns into contiguous blocks, one per robot, each
holding that robot's starting column (block edges as even as that allows), so
robots never meet. A robot goes to row rows-1 at the block edge nearer to it, then
sweeps its block row by row, top down, back and forth: along row i it paints each
tile of row i+1 above it (changing colour when needed), then steps down. A column
can only be painted top down from below (a tile painted from above would leave the
robot on a tile nobody can paint afterwards), so a downward sweep is the natural
order; the robot never enters a painted tile, so the plan is valid by
construction. Plans take about three actions per tile (paint, move, and a colour
change: neighbouring tiles differ in colour), as do the IPC reference plans.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from iterdeploy.errors import ConfigError
from iterdeploy.tasks.generators.base import GeneratedTask, check_int, problem_text

NAME = "floortile"
PRIMARY = "columns"
COLOURS = ("white", "black")


@dataclass(frozen=True)
class Params:
    rows: int
    """Rows to paint (the grid has one more, row 0, left unpainted)."""
    columns: int
    """Columns of the grid."""
    robots: int
    """Number of robots, each starting in its own column (so at most `columns`)."""

    def __post_init__(self) -> None:
        check_int(NAME, "rows", self.rows, 1, 100)
        check_int(NAME, "columns", self.columns, 1, 100)
        check_int(NAME, "robots", self.robots, 1, 100)
        if self.robots > self.columns:
            raise ConfigError(f"{NAME}: parameter 'robots' must be at most columns={self.columns} "
                              f"(robots start in distinct columns), got {self.robots}")


def from_size(size: int) -> Params:
    """Primary size = columns; rows = columns (a square to paint), robots = max(1, min(columns, columns^2 // 25))
    (IPC: 4x4 with 1 robot, 5x5 with 2, 10x10 with 4, 13x13 with 6; at most one robot per column)."""
    check_int(NAME, "size (columns)", size, 1, 100)
    return Params(rows=size, columns=size, robots=max(1, min(size, size * size // 25)))


def tile(i: int, j: int) -> str:
    return f"tile_{i}_{j}"


def colour(i: int, j: int) -> str:
    return COLOURS[(i + j) % 2]


def blocks(columns: int, starts: list[int]) -> list[tuple[int, int]]:
    """(first, last) column of each robot's block, robots sorted by starting column; block k holds
    starts[k] and ends as near k * columns / robots as that allows."""
    k = len(starts)
    out, lo = [], 1
    for i, c in enumerate(starts):
        hi = columns if i == k - 1 else min(max(round((i + 1) * columns / k), c), starts[i + 1] - 1)
        out.append((lo, hi))
        lo = hi + 1
    return out


def robot_plan(robot: str, at: tuple[int, int], has: str, block: tuple[int, int], rows: int) -> list[str]:
    plan: list[str] = []
    (i, j), lo, hi = at, block[0], block[1]
    top = rows - 1

    def move(di: int, dj: int) -> None:
        nonlocal i, j
        name = {(1, 0): "up", (-1, 0): "down", (0, 1): "right", (0, -1): "left"}[(di, dj)]
        plan.append(f"(move_{name} {robot} {tile(i, j)} {tile(i + di, j + dj)})")
        i, j = i + di, j + dj

    def walk(to_i: int, to_j: int) -> None:
        while i != to_i:
            move(1 if to_i > i else -1, 0)
        while j != to_j:
            move(0, 1 if to_j > j else -1)

    order = list(range(lo, hi + 1))
    if abs(j - hi) < abs(j - lo):
        order.reverse()
    walk(top, j)  # up or down its own column, then along row rows-1 to the nearer block edge
    walk(top, order[0])
    while True:
        for column in order:
            walk(i, column)
            want = colour(i + 1, j)
            if want != has:
                plan.append(f"(change_color {robot} {has} {want})")
                has = want
            plan.append(f"(paint_up {robot} {tile(i + 1, j)} {tile(i, j)} {want})")
        if i == 0:
            break
        move(-1, 0)
        order.reverse()
    return plan


def generate(params: Params, rng: random.Random, name: str = "floortile") -> GeneratedTask:
    rows, columns = params.rows, params.columns
    robots = [f"robot{k}" for k in range(1, params.robots + 1)]
    start_columns = rng.sample(range(1, columns + 1), params.robots)
    at = {r: (rng.randint(0, rows), c) for r, c in zip(robots, start_columns)}
    has = {r: rng.choice(COLOURS) for r in robots}
    tiles = [tile(i, j) for i in range(rows + 1) for j in range(1, columns + 1)]
    occupied = {tile(*at[r]) for r in robots}
    init = []
    for r in robots:
        init += [f"(robot-at {r} {tile(*at[r])})", f"(robot-has {r} {has[r]})"]
    init += [f"(available-color {c})" for c in COLOURS]
    init += [f"(clear {t})" for t in tiles if t not in occupied]
    init += [f"(up {tile(i + 1, j)} {tile(i, j)})" for i in range(rows) for j in range(1, columns + 1)]
    init += [f"(down {tile(i, j)} {tile(i + 1, j)})" for i in range(rows) for j in range(1, columns + 1)]
    init += [f"(right {tile(i, j + 1)} {tile(i, j)})" for i in range(rows + 1) for j in range(1, columns)]
    init += [f"(left {tile(i, j)} {tile(i, j + 1)})" for i in range(rows + 1) for j in range(1, columns)]
    goal = [f"(painted {tile(i, j)} {colour(i, j)})" for i in range(1, rows + 1) for j in range(1, columns + 1)]
    text = problem_text(NAME, name, params, [(tiles, "tile"), (robots, "robot"), (list(COLOURS), "color")],
                        init, goal)
    by_column = sorted(robots, key=lambda r: at[r][1])
    plan: list[str] = []
    for r, block in zip(by_column, blocks(columns, [at[r][1] for r in by_column])):
        plan += robot_plan(r, at[r], has[r], block, rows)
    return GeneratedTask(text, tuple(plan))
