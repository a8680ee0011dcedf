"""Rovers: rovers sample soil and rock, take images, and send the data to a lander.

Built as the IPC generator (rovgen) builds its tasks: a connected random
`visible` graph (five random pairs per waypoint, then components linked), the
lander at a random waypoint, each rover at a random waypoint with a traversal tree
grown breadth-first over `visible` (each new edge kept with probability 0.7),
soil and rock equipment each with probability 1/2, cameras on random rovers (a
rover with a camera is equipped for imaging) with a random non-empty set of modes
and a random calibration target, soil and rock samples at each waypoint with
probability 1/2, and each objective visible from a random set of waypoints. To
make every task solvable, as rovgen intends: each camera's calibration target is
visible from a waypoint its rover reaches, and each rover reaches a waypoint
visible from the lander. The goal asks, each with probability 1/2, for the soil
and rock data of every waypoint an equipped rover reaches and for every image
(objective, mode) some rover can take; at least one goal.

The reference plan is greedy: the rover and goal with the fewest navigation steps
go next (ties: goal order, then rover name); a sample is dropped only when the
store is needed again, an image costs the walk to a waypoint that sees the
camera's calibration target and from there to one that sees the objective. A rover
sends what it holds whenever it stands where the lander is visible, and at the end
goes to the nearest such waypoint to send the rest.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from iterdeploy.tasks.generators.base import GeneratedTask, check_int, problem_text

NAME = "rovers"
PRIMARY = "waypoints"
MODES = ("colour", "high_res", "low_res")
INF = 1 << 30


@dataclass(frozen=True)
class Params:
    rovers: int
    """Number of rovers, each with one store."""
    waypoints: int
    """Number of waypoints (2 or more)."""
    cameras: int
    """Number of cameras (1 or more), each on a random rover."""
    objectives: int
    """Number of objectives to image."""

    def __post_init__(self) -> None:
        check_int(NAME, "rovers", self.rovers, 1, 100)
        check_int(NAME, "waypoints", self.waypoints, 2, 300)
        check_int(NAME, "cameras", self.cameras, 1, 300)
        check_int(NAME, "objectives", self.objectives, 1, 300)


def from_size(size: int) -> Params:
    """Primary size = waypoints; rovers = max(1, min(waypoints // 2 - 1, 4 + waypoints // 13)),
    cameras = max(rovers, waypoints // 2 - 2), objectives = waypoints (IPC: 4 waypoints/1 rover/1 camera,
    10/4/4, 15/5/5, 40/7/20, 88/10/49; objectives about as many as waypoints)."""
    check_int(NAME, "size (waypoints)", size, 2, 300)
    rovers = max(1, min(size // 2 - 1, 4 + size // 13))
    return Params(rovers=rovers, waypoints=size, cameras=max(rovers, size // 2 - 2), objectives=size)


@dataclass
class World:
    """A drawn task, waypoints, rovers, cameras and objectives as 0-based numbers."""
    visible: list[set[int]]
    lander: int
    rover_at: list[int]
    tree: list[dict[int, list[int]]]
    """Per rover: waypoint -> neighbours it can traverse to (sorted)."""
    soil_rover: list[bool]
    rock_rover: list[bool]
    camera_on: list[int]
    camera_modes: list[list[int]]
    camera_target: list[int]
    soil: list[bool]
    rock: list[bool]
    seen_from: list[set[int]]
    """Per objective: waypoints it is visible from."""


def _edge(visible: list[set[int]], a: int, b: int) -> None:
    visible[a].add(b)
    visible[b].add(a)


def _reached(adj, start: int) -> list[int]:
    seen, queue = [start], deque([start])
    while queue:
        for b in sorted(adj[queue.popleft()]):
            if b not in seen:
                seen.append(b)
                queue.append(b)
    return seen


def draw_world(params: Params, rng: random.Random) -> World:
    n = params.waypoints
    visible: list[set[int]] = [set() for _ in range(n)]
    for _ in range(5 * n):
        a, b = rng.randrange(n), rng.randrange(n)
        if a != b:
            _edge(visible, a, b)
    reached = set(_reached(visible, 0))
    while len(reached) < n:
        nxt = min(set(range(n)) - reached)
        _edge(visible, nxt, rng.choice(sorted(reached)))
        reached |= set(_reached(visible, nxt))
    lander = rng.randrange(n)
    rover_at, trees, soil_rover, rock_rover = [], [], [], []
    for _ in range(params.rovers):
        start = rng.randrange(n)
        tree: dict[int, list[int]] = {start: []}
        queue = deque([start])
        while queue:
            a = queue.popleft()
            for b in sorted(visible[a]):
                if b not in tree and (len(tree) == 1 or rng.random() < 0.7):
                    tree[a].append(b)
                    tree[b] = [a]
                    queue.append(b)
        rover_at.append(start)
        trees.append({a: sorted(bs) for a, bs in tree.items()})
        soil_rover.append(rng.random() < 0.5)
        rock_rover.append(rng.random() < 0.5)
    camera_on, camera_modes, camera_target = [], [], []
    for _ in range(params.cameras):
        camera_on.append(rng.randrange(params.rovers))
        camera_modes.append([m for m in range(3) if rng.random() < 0.5] or [rng.randrange(3)])
        camera_target.append(rng.randrange(params.objectives))
    soil = [rng.random() < 0.5 for _ in range(n)]
    rock = [rng.random() < 0.5 for _ in range(n)]
    seen_from = [{rng.randrange(n) for _ in range(rng.randint(1, n))} for _ in range(params.objectives)]
    for c, r in enumerate(camera_on):
        if not seen_from[camera_target[c]] & trees[r].keys():
            seen_from[camera_target[c]].add(rng.choice(sorted(trees[r])))
    for r in range(params.rovers):
        if not visible[lander] & trees[r].keys():
            _edge(visible, lander, rng.choice([w for w in sorted(trees[r]) if w != lander]))
    return World(visible, lander, rover_at, trees, soil_rover, rock_rover, camera_on, camera_modes,
                 camera_target, soil, rock, seen_from)


def achievable_goals(world: World) -> list[tuple]:
    """('soil', w), ('rock', w), ('image', o, m) that some rover can achieve, in that order."""
    reach_soil = set().union(*(t.keys() for t, ok in zip(world.tree, world.soil_rover) if ok))
    reach_rock = set().union(*(t.keys() for t, ok in zip(world.tree, world.rock_rover) if ok))
    goals: list[tuple] = [("soil", w) for w in range(len(world.soil)) if world.soil[w] and w in reach_soil]
    goals += [("rock", w) for w in range(len(world.rock)) if world.rock[w] and w in reach_rock]
    for o, seen in enumerate(world.seen_from):
        for m in range(3):
            if any(m in world.camera_modes[c] and seen & world.tree[r].keys() for c, r in enumerate(world.camera_on)):
                goals.append(("image", o, m))
    return goals


def _wp(w: int) -> str:
    return f"waypoint{w + 1}"


def greedy_plan(world: World, goals: list[tuple]) -> list[str]:
    rovers = range(len(world.rover_at))
    dist: list[dict[int, dict[int, int]]] = []
    parent: list[dict[int, dict[int, int]]] = []
    for tree in world.tree:
        dist.append({})
        parent.append({})
        for a in tree:
            d, p, queue = {a: 0}, {a: a}, deque([a])
            while queue:
                x = queue.popleft()
                for y in tree[x]:
                    if y not in d:
                        d[y], p[y] = d[x] + 1, x
                        queue.append(y)
            dist[-1][a], parent[-1][a] = d, p
    comm = world.visible[world.lander]
    cams = [[c for c, on in enumerate(world.camera_on) if on == r] for r in rovers]
    spots = {c: sorted(world.seen_from[world.camera_target[c]] & world.tree[r].keys())
             for c, r in enumerate(world.camera_on)}
    vias: dict[tuple[int, int], dict] = {}
    pos = list(world.rover_at)
    full = [False for _ in rovers]
    pending: list[list[tuple]] = [[] for _ in rovers]
    plan: list[str] = []

    def options(r: int) -> dict[tuple, tuple]:
        """Goal -> (navigation steps, waypoints to visit[, camera]) for what rover r can do from where it is."""
        d = dist[r][pos[r]]
        if (r, pos[r]) not in vias:  # camera -> waypoint -> (steps there through a calibration waypoint, that one)
            vias[r, pos[r]] = {c: {w2: min((d[w1] + dist[r][w1][w2], w1) for w1 in spots[c]) for w2 in d}
                               for c in cams[r]}
        via = vias[r, pos[r]]
        out = {}
        for g in remaining:
            if g[0] != "image":
                if (world.soil_rover if g[0] == "soil" else world.rock_rover)[r] and g[1] in d:
                    out[g] = (d[g[1]], [g[1]])
                continue
            best = None
            for c in cams[r]:
                if g[2] in world.camera_modes[c]:
                    for w2 in sorted(world.seen_from[g[1]] & d.keys()):
                        if best is None or via[c][w2][0] < best[0]:
                            best = (via[c][w2][0], [via[c][w2][1], w2], c)
            if best is not None:
                out[g] = best
        return out

    def go(r: int, to: int) -> None:
        route = []
        w = to
        while w != pos[r]:
            route.append(w)
            w = parent[r][pos[r]][w]
        for w in reversed(route):
            plan.append(f"(navigate rover{r + 1} {_wp(pos[r])} {_wp(w)})")
            pos[r] = w

    def send(r: int) -> None:
        if pos[r] not in comm:
            return
        x, y = _wp(pos[r]), _wp(world.lander)
        for g in pending[r]:
            if g[0] == "image":
                plan.append(f"(communicate_image_data rover{r + 1} general objective{g[1] + 1} {MODES[g[2]]} {x} {y})")
            else:
                plan.append(f"(communicate_{g[0]}_data rover{r + 1} general {_wp(g[1])} {x} {y})")
        pending[r].clear()

    remaining = list(goals)
    table = {r: options(r) for r in rovers}
    while remaining:
        cost, gi, r = min((table[r][g][0], gi, r) for gi, g in enumerate(remaining) for r in rovers if g in table[r])
        g = remaining.pop(gi)
        option = table[r][g]
        if g[0] in ("soil", "rock"):
            w = option[1][0]
            go(r, w)
            store = f"rover{r + 1}store"
            if full[r]:
                plan.append(f"(drop rover{r + 1} {store})")
            plan.append(f"(sample_{g[0]} rover{r + 1} {store} {_wp(w)})")
            full[r] = True
        else:
            (w1, w2), c = option[1], option[2]
            go(r, w1)
            plan.append(f"(calibrate rover{r + 1} camera{c + 1} objective{world.camera_target[c] + 1} {_wp(w1)})")
            go(r, w2)
            plan.append(f"(take_image rover{r + 1} {_wp(w2)} objective{g[1] + 1} camera{c + 1} {MODES[g[2]]})")
        pending[r].append(g)
        send(r)
        table[r] = options(r)  # the others have not moved: their options stand
    for r in rovers:
        if pending[r]:
            go(r, min(comm & dist[r][pos[r]].keys(), key=lambda w: (dist[r][pos[r]][w], w)))
            send(r)
    return plan


def generate(params: Params, rng: random.Random, name: str = "rovers") -> GeneratedTask:
    world = draw_world(params, rng)
    possible = achievable_goals(world)
    goals = [g for g in possible if rng.random() < 0.5] or [rng.choice(possible)]
    n, rovers = params.waypoints, range(params.rovers)
    init = [f"(at_lander general {_wp(world.lander)})"]
    init += [f"(at rover{r + 1} {_wp(world.rover_at[r])})" for r in rovers]
    init += [f"(equipped_for_soil_analysis rover{r + 1})" for r in rovers if world.soil_rover[r]]
    init += [f"(equipped_for_rock_analysis rover{r + 1})" for r in rovers if world.rock_rover[r]]
    init += [f"(equipped_for_imaging rover{r + 1})" for r in rovers if r in world.camera_on]
    init += [f"(empty rover{r + 1}store)" for r in rovers] + [f"(store_of rover{r + 1}store rover{r + 1})" for r in rovers]
    init += [f"(at_rock_sample {_wp(w)})" for w in range(n) if world.rock[w]]
    init += [f"(at_soil_sample {_wp(w)})" for w in range(n) if world.soil[w]]
    init += [f"(visible {_wp(a)} {_wp(b)})" for a in range(n) for b in sorted(world.visible[a])]
    for r in rovers:
        tree = world.tree[r]
        init += [f"(can_traverse rover{r + 1} {_wp(a)} {_wp(b)})" for a in sorted(tree) for b in tree[a]]
    for c, r in enumerate(world.camera_on):
        init += [f"(calibration_target camera{c + 1} objective{world.camera_target[c] + 1})",
                 f"(on_board camera{c + 1} rover{r + 1})"]
        init += [f"(supports camera{c + 1} {MODES[m]})" for m in world.camera_modes[c]]
    for o, seen in enumerate(world.seen_from):
        init += [f"(visible_from objective{o + 1} {_wp(w)})" for w in sorted(seen)]
    goal = []
    for g in goals:
        if g[0] == "image":
            goal.append(f"(communicated_image_data objective{g[1] + 1} {MODES[g[2]]})")
        else:
            goal.append(f"(communicated_{g[0]}_data {_wp(g[1])})")
    text = problem_text("rover", name, params,
                        [(["general"], "lander"), (list(MODES), "mode"),
                         ([f"rover{r + 1}" for r in rovers], "rover"), ([f"rover{r + 1}store" for r in rovers], "store"),
                         ([_wp(w) for w in range(n)], "waypoint"),
                         ([f"camera{c + 1}" for c in range(params.cameras)], "camera"),
                         ([f"objective{o + 1}" for o in range(params.objectives)], "objective")],
                        init, goal)
    return GeneratedTask(text, tuple(greedy_plan(world, goals)))
