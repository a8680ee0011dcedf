"""Transport: vehicles of limited capacity carry packages over a road network.

As in the IPC files, roads are two-way and the network is connected (a random
spanning tree plus each other pair with a per-task probability between 0.1 and
0.6, so some tasks are sparse and some nearly complete), each vehicle has a random
capacity from 1 to `max_capacity`, sizes c0..c<max> are chained by
`capacity-predecessor`, and every package must go to a location other than its
start.

The reference plan is greedy: the vehicle and package with the shortest
"drive there, then to the goal" distance go first; the vehicle picks up every
waiting package it meets while it has room, and delivers its load to the nearest
goal first, dropping and picking up at every location it passes. Shortest paths
are breadth-first with neighbours in name order, so the plan is deterministic.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from iterdeploy.tasks.generators.base import GeneratedTask, check_int, problem_text

NAME = "transport"
PRIMARY = "packages"


@dataclass(frozen=True)
class Params:
    vehicles: int
    """Number of vehicles."""
    packages: int
    """Number of packages, each to be carried to another location."""
    locations: int
    """Number of locations (2 or more)."""
    max_capacity: int
    """Largest vehicle capacity; each vehicle's capacity is drawn from 1..max_capacity."""

    def __post_init__(self) -> None:
        check_int(NAME, "vehicles", self.vehicles, 1, 200)
        check_int(NAME, "packages", self.packages, 1, 1000)
        check_int(NAME, "locations", self.locations, 2, 300)
        check_int(NAME, "max_capacity", self.max_capacity, 1, 20)


def from_size(size: int) -> Params:
    """Primary size = packages; vehicles = max(3, 2 + packages // 3), locations = max(5, packages + 2),
    max_capacity = min(4, 2 + packages // 16) (IPC easy: 1 package/3 vehicles/5 locations/2,
    8/4/10/2, 17/7/16/3)."""
    check_int(NAME, "size (packages)", size, 1, 298)
    return Params(vehicles=max(3, 2 + size // 3), packages=size, locations=max(5, size + 2),
                  max_capacity=min(4, 2 + size // 16))


def random_roads(n: int, rng: random.Random) -> list[tuple[int, int]]:
    """Undirected edges (a < b) of a connected graph on 1..n."""
    order = list(range(1, n + 1))
    rng.shuffle(order)
    edges = {tuple(sorted((v, rng.choice(order[:i])))) for i, v in enumerate(order) if i}
    density = rng.uniform(0.1, 0.6)
    for a in range(1, n + 1):
        for b in range(a + 1, n + 1):
            if (a, b) not in edges and rng.random() < density:
                edges.add((a, b))
    return sorted(edges)


def bfs(adj: dict[int, list[int]], source: int) -> tuple[dict[int, int], dict[int, int]]:
    """Parent and distance of every location on breadth-first shortest paths from `source`."""
    parent, depth = {source: source}, {source: 0}
    queue = deque([source])
    while queue:
        a = queue.popleft()
        for b in adj[a]:
            if b not in parent:
                parent[b], depth[b] = a, depth[a] + 1
                queue.append(b)
    return parent, depth


def delivery_plan(n: int, roads: list[tuple[int, int]], vehicle_at: dict[str, int], capacity: dict[str, int],
                  package_at: dict[str, int], goal: dict[str, int]) -> list[str]:
    adj: dict[int, list[int]] = {i: [] for i in range(1, n + 1)}
    for a, b in roads:
        adj[a].append(b)
        adj[b].append(a)
    for a in adj:
        adj[a].sort()
    tables = {i: bfs(adj, i) for i in range(1, n + 1)}

    def path(a: int, b: int) -> list[int]:
        """Locations after `a` on a shortest path to `b`."""
        steps = []
        while b != a:
            steps.append(b)
            b = tables[a][0][b]
        return steps[::-1]

    def dist(a: int, b: int) -> int:
        return tables[a][1][b]

    plan: list[str] = []
    waiting = dict(package_at)
    room = dict(capacity)
    here = dict(vehicle_at)
    load: dict[str, list[str]] = {v: [] for v in vehicle_at}

    def visit(v: str, first: str | None = None) -> None:
        """Drop what is for here, then pick up what waits here (`first` before the others) while there is room."""
        loc = here[v]
        for p in [p for p in load[v] if goal[p] == loc]:
            plan.append(f"(drop {v} l{loc} {p} c{room[v]} c{room[v] + 1})")
            room[v] += 1
            load[v].remove(p)
        for p in sorted((p for p in waiting if waiting[p] == loc), key=lambda p: (p != first, _index(p))):
            if room[v] == 0:
                break
            plan.append(f"(pick-up {v} l{loc} {p} c{room[v] - 1} c{room[v]})")
            room[v] -= 1
            load[v].append(p)
            del waiting[p]

    def drive(v: str, to: int, first: str | None = None) -> None:
        for step in path(here[v], to):
            plan.append(f"(drive {v} l{here[v]} l{step})")
            here[v] = step
            visit(v, first if step == to else None)

    while waiting:
        v, p = min(((v, p) for v in vehicle_at for p in waiting),
                   key=lambda vp: (dist(here[vp[0]], waiting[vp[1]]) + dist(waiting[vp[1]], goal[vp[1]]),
                                   _index(vp[0]), _index(vp[1])))
        if here[v] == waiting[p]:
            visit(v, p)
        else:
            drive(v, waiting[p], p)
        while load[v]:
            nearest = min(load[v], key=lambda q: (dist(here[v], goal[q]), _index(q)))
            drive(v, goal[nearest])
    return plan


def _index(name: str) -> int:
    return int(name[1:])


def generate(params: Params, rng: random.Random, name: str = "transport") -> GeneratedTask:
    vehicles = [f"v{i}" for i in range(1, params.vehicles + 1)]
    packages = [f"p{i}" for i in range(1, params.packages + 1)]
    n = params.locations
    roads = random_roads(n, rng)
    capacity = {v: rng.randint(1, params.max_capacity) for v in vehicles}
    package_at, goal = {}, {}
    for p in packages:
        package_at[p] = rng.randint(1, n)
        goal[p] = rng.choice([i for i in range(1, n + 1) if i != package_at[p]])
    vehicle_at = {v: rng.randint(1, n) for v in vehicles}
    init = [f"(capacity {v} c{capacity[v]})" for v in vehicles]
    init += [f"(capacity-predecessor c{k} c{k + 1})" for k in range(params.max_capacity)]
    init += [f"(at {p} l{package_at[p]})" for p in packages] + [f"(at {v} l{vehicle_at[v]})" for v in vehicles]
    for a, b in roads:
        init += [f"(road l{a} l{b})", f"(road l{b} l{a})"]
    text = problem_text(NAME, name, params,
                        [(vehicles, "vehicle"), (packages, "package"), ([f"l{i}" for i in range(1, n + 1)], "location"),
                         ([f"c{k}" for k in range(params.max_capacity + 1)], "size")],
                        init, [f"(at {p} l{goal[p]})" for p in packages])
    return GeneratedTask(text, tuple(delivery_plan(n, roads, vehicle_at, capacity, package_at, goal)))
