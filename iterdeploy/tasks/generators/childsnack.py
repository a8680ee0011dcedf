"""Childsnack: make sandwiches in the kitchen and serve them to children waiting at tables.

As in the IPC files, there is one bread portion and one content portion per child,
as many gluten-free portions of each as there are allergic children, about half
again as many sandwich names as children (the extra ones stay `notexist`), every
tray starts in the kitchen and each child waits at a random table. An allergic child must get a sandwich made by
`make_sandwich_no_gluten`, so the gluten-free portions are kept for them.

The reference plan makes each child's sandwich (gluten-free ones from the
gluten-free portions, the others from the rest) and puts it on tray1, then carries
tray1 to each table where someone waits, in table order, and serves them there.
It is optimal: every child needs a make, a put and a serve, and every table with a
waiting child needs one tray move.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from iterdeploy.errors import ConfigError
from iterdeploy.tasks.generators.base import GeneratedTask, check_int, problem_text

NAME = "childsnack"
PRIMARY = "children"


@dataclass(frozen=True)
class Params:
    children: int
    """Number of children (each to be served); also the number of bread and content portions."""
    allergic: int
    """Number of children allergic to gluten; also the number of gluten-free bread and content portions."""
    trays: int
    """Number of trays, all in the kitchen at the start."""
    sandwiches: int
    """Number of sandwich names (at least `children`: each child eats one)."""
    tables: int
    """Number of tables children wait at (IPC: 3)."""

    def __post_init__(self) -> None:
        check_int(NAME, "children", self.children, 1, 1000)
        check_int(NAME, "allergic", self.allergic, 0, self.children)
        check_int(NAME, "trays", self.trays, 1, 100)
        check_int(NAME, "sandwiches", self.sandwiches, 1, 2000)
        check_int(NAME, "tables", self.tables, 1, 100)
        if self.sandwiches < self.children:
            raise ConfigError(f"{NAME}: parameter 'sandwiches' must be at least children={self.children} "
                              f"(each child eats one), got {self.sandwiches}")


def from_size(size: int) -> Params:
    """Primary size = children; allergic = 3 x children // 5, trays = max(1, min(5, children // 3)),
    sandwiches = 3 x children // 2 (at least children), tables = 3 (IPC: 10 children, 6 allergic,
    3 trays, 15 sandwiches; 40, 25, 5, 59)."""
    check_int(NAME, "size (children)", size, 1, 1000)
    return Params(children=size, allergic=3 * size // 5, trays=max(1, min(5, size // 3)),
                  sandwiches=max(size, 3 * size // 2), tables=3)


def serve_plan(allergic: list[str], others: list[str], waiting: dict[str, str], gf_bread: list[str],
               gf_content: list[str], bread: list[str], content: list[str], sandwiches: list[str],
               tables: list[str]) -> list[str]:
    """Children in `allergic` + `others` order get sandwiches in name order; served table by table."""
    plan: list[str] = []
    eats: dict[str, str] = {}
    for child, s, b, c in zip(allergic, sandwiches, gf_bread, gf_content):
        plan += [f"(make_sandwich_no_gluten {s} {b} {c})", f"(put_on_tray {s} tray1)"]
        eats[child] = s
    for child, s, b, c in zip(others, sandwiches[len(allergic):], bread, content):
        plan += [f"(make_sandwich {s} {b} {c})", f"(put_on_tray {s} tray1)"]
        eats[child] = s
    here = "kitchen"
    for table in tables:
        there = [c for c in allergic + others if waiting[c] == table]
        if not there:
            continue
        plan.append(f"(move_tray tray1 {here} {table})")
        here = table
        for child in sorted(there, key=_index):
            action = "serve_sandwich_no_gluten" if child in allergic else "serve_sandwich"
            plan.append(f"({action} {eats[child]} {child} tray1 {table})")
    return plan


def _index(name: str) -> int:
    return int(name.lstrip("abcdefghijklmnopqrstuvwxyz"))


def generate(params: Params, rng: random.Random, name: str = "childsnack") -> GeneratedTask:
    children = [f"child{i}" for i in range(1, params.children + 1)]
    trays = [f"tray{i}" for i in range(1, params.trays + 1)]
    sandwiches = [f"sandw{i}" for i in range(1, params.sandwiches + 1)]
    breads = [f"bread{i}" for i in range(1, params.children + 1)]
    contents = [f"content{i}" for i in range(1, params.children + 1)]
    tables = [f"table{i}" for i in range(1, params.tables + 1)]
    allergic = sorted(rng.sample(children, params.allergic), key=_index)
    gf_bread = sorted(rng.sample(breads, params.allergic), key=_index)
    gf_content = sorted(rng.sample(contents, params.allergic), key=_index)
    waiting = {c: rng.choice(tables) for c in children}
    others = [c for c in children if c not in allergic]
    init = [f"(at {t} kitchen)" for t in trays]
    init += [f"(at_kitchen_bread {b})" for b in breads] + [f"(at_kitchen_content {c})" for c in contents]
    init += [f"(allergic_gluten {c})" for c in allergic] + [f"(not_allergic_gluten {c})" for c in others]
    init += [f"(no_gluten_bread {b})" for b in gf_bread] + [f"(no_gluten_content {c})" for c in gf_content]
    init += [f"(waiting {c} {waiting[c]})" for c in children] + [f"(notexist {s})" for s in sandwiches]
    text = problem_text(NAME, name, params,
                        [(children, "child"), (trays, "tray"), (sandwiches, "sandwich"), (breads, "bread-portion"),
                         (contents, "content-portion"), (tables, "place")],
                        init, [f"(served {c})" for c in children])
    plan = serve_plan(allergic, others, waiting, gf_bread, gf_content,
                      [b for b in breads if b not in gf_bread], [c for c in contents if c not in gf_content],
                      sandwiches, tables)
    return GeneratedTask(text, tuple(plan))
