"""All ten generators against the references (VAL, unified-planning, Fast Downward), byte-identical output
across interpreters, and the six IPC domains added to the first four: IPC-shaped tasks, checked params."""

from __future__ import annotations

import collections
import os
import random
import re
import subprocess
import sys

import pytest

from iterdeploy.errors import ConfigError
from iterdeploy.planning import task_from_text, validate
from iterdeploy.tasks.domains import domain_path, domain_text
from iterdeploy.tasks.generators import GENERATORS, generate_task, get_generator
from iterdeploy.tasks.generators import childsnack, floortile, rovers, satellite, sokoban, transport

ALL = sorted(GENERATORS)
NEW = ["childsnack", "floortile", "rovers", "satellite", "sokoban", "transport"]
SAMPLE = {  # small sizes each reference checks quickly; sokoban's grid is 8-12 cells a side here
    "blocksworld": (3, 6), "childsnack": (2, 6), "ferry": (2, 5), "floortile": (2, 4), "miconic": (2, 5),
    "rovers": (4, 10), "satellite": (3, 6), "sokoban": (1, 3), "spanner": (2, 4), "transport": (3, 7),
}


def plan_text(plan) -> str:
    return "".join(f"{a}\n" for a in plan)


def write(tmp_path, domain: str, task, stem: str = "p"):
    problem = tmp_path / f"{stem}.pddl"
    problem.write_text(task.problem)
    return domain_path(domain), problem


# --- byte-identical output --------------------------------------------------------------------

DIGEST = """
import hashlib, random, sys
from iterdeploy.tasks.generators import GENERATORS, generate_task
h = hashlib.sha256()
for domain in sorted(GENERATORS):
    for size in (2, 4):
        for seed in (0, 1):
            task = generate_task(domain, size, random.Random(seed))
            h.update(task.problem.encode() + b"\\0" + "\\n".join(task.plan).encode() + b"\\0")
print(h.hexdigest())
"""


def test_output_is_byte_identical_across_interpreters_and_hash_seeds():
    """Same params and seed, same bytes: in this process and in fresh ones with other string hash seeds,
    so no generator depends on set order of strings or on hash()."""
    digests = set()
    for hash_seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
        out = subprocess.run([sys.executable, "-c", DIGEST], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    here = {}
    exec(DIGEST.replace("print(h.hexdigest())", "out['d'] = h.hexdigest()"), {"out": here})
    digests.add(here["d"])
    assert len(digests) == 1, digests


@pytest.mark.parametrize("domain, size", [("childsnack", 6), ("floortile", 8), ("rovers", 10), ("satellite", 6),
                                          ("sokoban", 3), ("transport", 7)])
def test_different_seeds_give_different_tasks(domain, size):
    """At sizes with many possible tasks (a 4x4 floortile has only 40: a robot's cell and colour)."""
    problems = {generate_task(domain, size, random.Random(seed)).problem for seed in range(6)}
    assert len(problems) == 6


def test_task_sets_of_all_ten_domains_are_byte_identical(tmp_path):
    from iterdeploy.artifacts import tree_hash
    from iterdeploy.config import build
    from iterdeploy.tasks.spec import TaskSetSpec
    from iterdeploy.tasks.taskset import build_taskset

    spec = build(TaskSetSpec, {"seed": 3, "splits": [
        {"name": "train", "domain": d, "sizes": list(SAMPLE[d]), "per_size": 2} for d in ALL]}, "tasks")
    build_taskset(spec, tmp_path / "a")
    build_taskset(spec, tmp_path / "b")
    assert tree_hash(tmp_path / "a") == tree_hash(tmp_path / "b")
    build_taskset(spec.with_seed(4), tmp_path / "c")
    assert tree_hash(tmp_path / "c") != tree_hash(tmp_path / "a")


# --- the references ---------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ALL)
def test_unified_planning_reads_what_we_read(domain, tmp_path):
    from iterdeploy.testing.validators import UPTask

    for size, seed in zip(SAMPLE[domain], (0, 1)):
        task = generate_task(domain, size, random.Random(seed))
        dom, prob = write(tmp_path, domain, task)
        ours = task_from_text(domain_text(domain), task.problem)
        ref = UPTask(dom, prob).facts()
        assert {(o, t) for o, t in ours.problem.objects.items()} == set(ref.objects)
        assert set(ours.init) == set(ref.init) and ours.init
        assert set(ours.goal_pos) == set(ref.goal_pos) and ours.goal_pos
        assert set(ours.goal_neg) == set(ref.goal_neg) == set()


@pytest.mark.parametrize("domain", ALL)
def test_reference_plans_are_valid_for_val_and_unified_planning(domain, tmp_path):
    """VAL and UP accept every reference plan, and reject it without its last action (the check can fail)."""
    from iterdeploy.testing.validators import up_validate, val_validate

    for i, (size, seed) in enumerate((s, seed) for s in SAMPLE[domain] for seed in (0, 1)):
        task = generate_task(domain, size, random.Random(seed))
        dom, prob = write(tmp_path, domain, task, f"p{i}")
        plans = [plan_text(task.plan), plan_text(task.plan[:-1])]
        assert val_validate(dom, prob, plans) == [True, False], (domain, size, seed)
        assert up_validate(dom, prob, plans) == [True, False], (domain, size, seed)
        compiled = task_from_text(domain_text(domain), task.problem)
        assert [validate(compiled, p, strict=True).valid for p in plans] == [True, False]


FD_SIZES = {"blocksworld": (4, 6), "childsnack": (3, 6), "ferry": (3, 6), "floortile": (2, 3), "miconic": (3, 6),
            "rovers": (6, 10), "satellite": (3, 6), "sokoban": (1, 2), "spanner": (2, 4), "transport": (3, 6)}


@pytest.mark.parametrize("domain", ALL)
def test_fast_downward_agrees_and_reference_plans_are_not_much_longer(domain):
    """Fast Downward (LAMA-first) solves the small tasks; our validator accepts its plans, and our
    reference plan is at most twice as long plus 4 (it may be longer, never invalid). Childsnack's
    reference is optimal, so never longer."""
    pytest.importorskip("up_fast_downward")
    from iterdeploy.tasks.fast_downward import fast_downward_plan

    for size, seed in zip(FD_SIZES[domain], (0, 1)):
        task = generate_task(domain, size, random.Random(seed))
        fd = fast_downward_plan(domain_text(domain), task.problem, timeout=30)
        assert validate(task_from_text(domain_text(domain), task.problem), plan_text(fd), strict=True).valid
        assert len(task.plan) <= 2 * len(fd) + 4, (domain, size, seed, len(task.plan), len(fd))
        if domain == "childsnack":
            assert len(task.plan) <= len(fd)


# --- IPC shape --------------------------------------------------------------------------------


def _stems(objects: dict[str, str]) -> dict[str, set[str]]:
    """Type -> object names with numbers replaced by N, e.g. rover -> {'roverN'}."""
    out = collections.defaultdict(set)
    for name, type_ in objects.items():
        out[type_].add(re.sub(r"\d+", "N", name))
    return dict(out)


@pytest.mark.parametrize("domain", NEW)
def test_tasks_are_shaped_like_the_ipc_ones(domain, ipc_root):
    """Same object naming per type, the same predicates in the initial state and in the goal (over a few
    tasks each, as not every task uses every predicate)."""
    from iterdeploy.planning import load_task

    ipc = [load_task(ipc_root / domain / "domain.pddl", p)
           for p in sorted((ipc_root / domain / "testing" / "easy").glob("*.pddl"))[-8:]]
    ours = [task_from_text(domain_text(domain), generate_task(domain, SAMPLE[domain][1], random.Random(s)).problem)
            for s in range(8)]
    for tasks in (ipc, ours):
        assert tasks
    assert _stems(ours[0].problem.objects) == _stems(ipc[0].problem.objects)
    for field in ("init", "goal_pos"):
        assert ({a[0] for t in ours for a in getattr(t, field)} == {a[0] for t in ipc for a in getattr(t, field)}), field


def test_from_size_mappings_of_the_new_generators():
    assert childsnack.from_size(10) == childsnack.Params(children=10, allergic=6, trays=3, sandwiches=15, tables=3)
    assert childsnack.from_size(1) == childsnack.Params(children=1, allergic=0, trays=1, sandwiches=1, tables=3)
    assert floortile.from_size(5) == floortile.Params(rows=5, columns=5, robots=1)
    assert floortile.from_size(13) == floortile.Params(rows=13, columns=13, robots=6)
    assert rovers.from_size(4) == rovers.Params(rovers=1, waypoints=4, cameras=1, objectives=4)
    assert rovers.from_size(10) == rovers.Params(rovers=4, waypoints=10, cameras=4, objectives=10)
    assert rovers.from_size(88) == rovers.Params(rovers=10, waypoints=88, cameras=42, objectives=88)
    assert satellite.from_size(3) == satellite.Params(satellites=3, instruments=5, modes=1, directions=4, images=4)
    assert satellite.from_size(10) == satellite.Params(satellites=10, instruments=19, modes=3, directions=11,
                                                       images=20)
    assert sokoban.from_size(1) == sokoban.Params(grid=8, boxes=1)
    assert sokoban.from_size(4) == sokoban.Params(grid=14, boxes=4)
    assert sokoban.from_size(20) == sokoban.Params(grid=35, boxes=20)
    assert transport.from_size(1) == transport.Params(vehicles=3, packages=1, locations=5, max_capacity=2)
    assert transport.from_size(17) == transport.Params(vehicles=7, packages=17, locations=19, max_capacity=3)
    for domain in NEW:
        for size in (1, 2, 3, 10, 40):
            gen = get_generator(domain)
            try:
                params = gen.from_size(size)
            except ConfigError:
                assert domain == "rovers" and size == 1
                continue
            assert getattr(params, gen.PRIMARY) == size


# --- bad parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize("domain, bad, name", [
    ("childsnack", dict(children=0, allergic=0, trays=1, sandwiches=1, tables=3), "children"),
    ("childsnack", dict(children=3, allergic=4, trays=1, sandwiches=3, tables=3), "allergic"),
    ("childsnack", dict(children=3, allergic=1, trays=1, sandwiches=2, tables=3), "sandwiches"),
    ("childsnack", dict(children=3, allergic=1, trays=0, sandwiches=3, tables=3), "trays"),
    ("floortile", dict(rows=0, columns=3, robots=1), "rows"),
    ("floortile", dict(rows=3, columns=3, robots=4), "robots"),
    ("floortile", dict(rows=3, columns=2.0, robots=1), "columns"),
    ("rovers", dict(rovers=1, waypoints=1, cameras=1, objectives=1), "waypoints"),
    ("rovers", dict(rovers=1, waypoints=4, cameras=0, objectives=1), "cameras"),
    ("rovers", dict(rovers=0, waypoints=4, cameras=1, objectives=1), "rovers"),
    ("satellite", dict(satellites=3, instruments=2, modes=1, directions=4, images=2), "instruments"),
    ("satellite", dict(satellites=1, instruments=1, modes=1, directions=1, images=1), "directions"),
    ("satellite", dict(satellites=1, instruments=1, modes=2, directions=3, images=7), "images"),
    ("sokoban", dict(grid=4, boxes=1), "grid"),
    ("sokoban", dict(grid=8, boxes=4), "boxes"),
    ("sokoban", dict(grid=8, boxes=None), "boxes"),
    ("transport", dict(vehicles=1, packages=1, locations=1, max_capacity=1), "locations"),
    ("transport", dict(vehicles=1, packages=1, locations=3, max_capacity=0), "max_capacity"),
    ("transport", dict(vehicles=True, packages=1, locations=3, max_capacity=1), "vehicles"),
])
def test_bad_parameters_are_one_line_config_errors(domain, bad, name):
    with pytest.raises(ConfigError, match=rf"^{domain}: parameter '{name}' must be") as info:
        get_generator(domain).Params(**bad)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("domain, size", [("rovers", 1), ("sokoban", 46), ("floortile", 101), ("transport", 0)])
def test_sizes_out_of_range_are_config_errors(domain, size):
    with pytest.raises(ConfigError, match=rf"^{domain}: parameter 'size \(\w+\)' must be an integer in"):
        get_generator(domain).from_size(size)


def test_sokoban_refuses_when_no_draw_fits(monkeypatch):
    monkeypatch.setattr(sokoban, "draw_floor", lambda n, rng: ({(2, 2), (2, 3)}, (2, 2)))
    with pytest.raises(ConfigError, match=r"^sokoban: could not draw a task with boxes=2 in grid=10 in 50 attempts$"):
        generate_task("sokoban", sokoban.Params(grid=10, boxes=2), random.Random(0))


# --- per domain -------------------------------------------------------------------------------

MOVES = {"down": (1, 0), "left": (0, -1), "up": (-1, 0), "right": (0, 1)}


def _cell(name: str) -> tuple[int, int]:
    i, j = name.split("_")[1:]
    return int(i), int(j)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_sokoban_starts_have_no_dead_box(size):
    """No box on its own goal, none in a corner, none in a 2x2 block of walls and boxes (frozen), the robot
    not on a box; adjacency is symmetric, between free cells only, as the map in the header shows."""
    for seed in range(10):
        task = task_from_text(domain_text("sokoban"), generate_task("sokoban", size, random.Random(seed)).problem)
        adjacent = {(_cell(a[1]), _cell(a[2])): a[3] for a in task.init if a[0] == "adjacent"}
        free = {a for a, _ in adjacent} | {_cell(a[1]) for a in task.init if a[0] == "clear"}
        box_at = {a[1]: _cell(a[2]) for a in task.init if a[0] == "at"}
        goal = {a[1]: _cell(a[2]) for a in task.goal_pos}
        robot = next(_cell(a[1]) for a in task.init if a[0] == "at-robot")
        assert len(box_at) == len(goal) == size and robot not in box_at.values() and robot in free
        for (a, b), d in adjacent.items():
            assert (b, a) in adjacent and (b[0] - a[0], b[1] - a[1]) == MOVES[d] and a in free and b in free
        for box, (i, j) in box_at.items():
            assert (i, j) != goal[box]
            vertical = (i - 1, j) not in free or (i + 1, j) not in free
            horizontal = (i, j - 1) not in free or (i, j + 1) not in free
            assert not (vertical and horizontal), (seed, box, "in a corner")
            for di in (-1, 0):
                for dj in (-1, 0):
                    square = {(i + di + x, j + dj + y) for x in (0, 1) for y in (0, 1)}
                    assert not all(c not in free or c in box_at.values() for c in square), (seed, box, "frozen")


def test_sokoban_map_in_the_header_matches_the_task():
    text = generate_task("sokoban", 2, random.Random(3)).problem
    rows = [line[3:] for line in text.splitlines()[2:] if line.startswith(";;   ")]
    grid = {(i, j): row[3 * (j - 1):3 * j].strip() for i, row in enumerate(rows, start=1)
            for j in range(1, len(row) // 3 + 1)}
    task = task_from_text(domain_text("sokoban"), text)
    boxes = {a[1]: _cell(a[2]) for a in task.init if a[0] == "at"}
    free = {_cell(a[1]) for a in task.init if a[0] == "clear"} | set(boxes.values())
    assert len(rows) == 10 and len(grid) == 100
    assert {c for c, mark in grid.items() if mark != "#"} == free
    assert {grid[c] for c in boxes.values()} == {b[3:] for b in boxes}
    robot = next(_cell(a[1]) for a in task.init if a[0] == "at-robot")
    assert grid[robot] == "R"
    assert {c for c, mark in grid.items() if mark == "G"} <= {_cell(g[2]) for g in task.goal_pos}


def test_childsnack_plans_are_optimal_and_gluten_free_where_needed():
    for size in (1, 3, 8, 15):
        for seed in range(5):
            gen = generate_task("childsnack", size, random.Random(seed))
            task = task_from_text(domain_text("childsnack"), gen.problem)
            tables = {a[2] for a in task.init if a[0] == "waiting"}
            # Every child needs make, put on tray and serve; every table with a child one tray move.
            assert len(gen.plan) == 3 * size + len(tables)
            allergic = {a[1] for a in task.init if a[0] == "allergic_gluten"}
            assert sum(a.startswith("(make_sandwich_no_gluten") for a in gen.plan) == len(allergic)
            assert {a.split()[2] for a in gen.plan if a.startswith("(serve_sandwich_no_gluten")} == allergic
            assert len({a[1] for a in task.init if a[0] == "no_gluten_bread"}) == len(allergic)


def test_floortile_robots_start_in_distinct_columns_and_plans_take_about_three_actions_per_tile():
    for size in (2, 4, 7, 10):
        for seed in range(5):
            params = floortile.from_size(size)
            gen = generate_task("floortile", params, random.Random(seed))
            task = task_from_text(domain_text("floortile"), gen.problem)
            columns = [_cell(a[2])[1] for a in task.init if a[0] == "robot-at"]
            assert len(columns) == len(set(columns)) == params.robots
            assert task.goal_pos == {("painted", f"tile_{i}_{j}", ("white", "black")[(i + j) % 2])
                                     for i in range(1, size + 1) for j in range(1, size + 1)}
            tiles = size * size
            names = collections.Counter(a.split()[0][1:] for a in gen.plan)
            assert names["paint_up"] == tiles and names["paint_down"] == 0
            # Per tile a paint, at most one change and one move; plus a step down per row and the walk
            # to the block's corner, per robot.
            assert len(gen.plan) <= 3 * tiles + params.robots * (2 * size + size)


def test_floortile_blocks_hold_each_robot_and_cover_the_columns():
    assert floortile.blocks(10, [3, 4, 9]) == [(1, 3), (4, 7), (8, 10)]
    assert floortile.blocks(5, [1, 2, 3, 4, 5]) == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]
    assert floortile.blocks(6, [6]) == [(1, 6)]
    rng = random.Random(0)
    for _ in range(200):
        columns = rng.randint(1, 20)
        starts = sorted(rng.sample(range(1, columns + 1), rng.randint(1, columns)))
        out = floortile.blocks(columns, starts)
        assert [c for lo, hi in out for c in range(lo, hi + 1)] == list(range(1, columns + 1))
        assert all(lo <= c <= hi for (lo, hi), c in zip(out, starts))


def test_satellite_tasks_are_solvable_by_construction_and_plans_use_few_instruments():
    for size in (1, 3, 6, 12):
        for seed in range(5):
            params = satellite.from_size(size)
            gen = generate_task("satellite", params, random.Random(seed))
            task = task_from_text(domain_text("satellite"), gen.problem)
            carried = {a[2] for a in task.init if a[0] == "on_board"}
            assert len(carried) == params.satellites
            supported = {a[2] for a in task.init if a[0] == "supports"}
            assert len(supported) == params.modes
            images = [g for g in task.goal_pos if g[0] == "have_image"]
            pointing = [g for g in task.goal_pos if g[0] == "pointing"]
            assert len(images) == params.images
            names = collections.Counter(a.split()[0][1:] for a in gen.plan)
            assert names["take_image"] == len(images) and names["calibrate"] == names["switch_on"]
            # Per instrument used: off, on, turn, calibrate; per image a turn and a shot; per pointing goal a turn.
            assert len(gen.plan) <= 4 * names["switch_on"] + 2 * len(images) + len(pointing)
            assert names["switch_on"] <= min(len(images), params.instruments)


def test_transport_roads_are_two_way_and_connected_and_every_package_moves():
    for size in (1, 4, 10, 20):
        for seed in range(5):
            params = transport.from_size(size)
            gen = generate_task("transport", params, random.Random(seed))
            task = task_from_text(domain_text("transport"), gen.problem)
            roads = {(a[1], a[2]) for a in task.init if a[0] == "road"}
            assert all((b, a) in roads for a, b in roads)
            seen, todo = {"l1"}, ["l1"]
            while todo:
                here = todo.pop()
                for a, b in sorted(roads):
                    if a == here and b not in seen:
                        seen.add(b)
                        todo.append(b)
            assert len(seen) == params.locations
            start = {a[1]: a[2] for a in task.init if a[0] == "at" and a[1].startswith("p")}
            assert all(start[g[1]] != g[2] for g in task.goal_pos)
            names = collections.Counter(a.split()[0][1:] for a in gen.plan)
            assert names["pick-up"] == names["drop"] == size  # each package carried once, straight there


def test_rovers_traversal_follows_visibility_and_every_rover_can_report():
    for size in (3, 6, 12, 25):
        for seed in range(5):
            params = rovers.from_size(size)
            gen = generate_task("rovers", params, random.Random(seed))
            task = task_from_text(domain_text("rovers"), gen.problem)
            visible = {(a[1], a[2]) for a in task.init if a[0] == "visible"}
            lander = next(a[2] for a in task.init if a[0] == "at_lander")
            assert all((b, a) in visible for a, b in visible)
            for r in range(1, params.rovers + 1):
                name = f"rover{r}"
                edges = {(a[2], a[3]) for a in task.init if a[0] == "can_traverse" and a[1] == name}
                assert edges <= visible and all((b, a) in edges for a, b in edges)
                start = next(a[2] for a in task.init if a[0] == "at" and a[1] == name)
                reach = {start} | {w for e in edges for w in e}
                assert len(edges) == 2 * (len(reach) - 1)  # a tree: connected, no cycle
                assert any((w, lander) in visible for w in reach)
            data = collections.Counter(a.split()[0][1:] for a in gen.plan if a.startswith("(communicate"))
            assert sum(data.values()) == len(task.goal_pos)
