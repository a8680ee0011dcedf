"""Seeded plan mutations, to test validators against each other and to benchmark them.

A mutation takes a plan (usually a valid reference plan) and changes it the way a
model's plan tends to be wrong: a step dropped, swapped, duplicated, replaced by
another action of the task, an object substituted, the plan cut short, or junk
appended. Many mutants are invalid, some stay valid (swapping independent steps);
which is which is for the validators to say. Every mutant is an IPC plan file:
one `(action arg ...)` per line.
"""

from __future__ import annotations

import random

from iterdeploy.planning.plan import parse_plan
from iterdeploy.planning.task import Task

KINDS = ("drop", "swap", "duplicate", "replace", "substitute", "truncate", "junk")

# Lines that no reader may take for a step. Plain prose is left out on purpose: VAL silently
# stops reading a plan at a bare word, so "this is junk" after a valid plan is valid to VAL.
_JUNK = ("(", "()", "({action}", "(xyzzy-not-an-action)", "(xyzzy-not-an-action {object})")


def random_action(task: Task, rng: random.Random) -> str | None:
    """A ground action of the task with well-typed arguments, e.g. '(board car1 loc1)'."""
    names = sorted(task.action_names)
    rng.shuffle(names)
    for name in names:
        args = []
        for types in task.parameter_types(name):
            candidates = task.objects_of(types)
            if not candidates:
                break
            args.append(rng.choice(candidates))
        else:
            return "(" + " ".join([name, *args]) + ")"
    return None


def _substitute(task: Task, step: list[str], rng: random.Random) -> list[str] | None:
    if len(step) < 2:
        return None
    pos = rng.randrange(1, len(step))
    old = step[pos]
    declared = task.problem.objects.get(old)
    same = [o for o, t in task.problem.objects.items() if t == declared and o != old]
    # Mostly a same-typed object (the subtle error), sometimes any object (a type error, usually).
    pool = same if same and rng.random() < 0.7 else [o for o in task.problem.objects if o != old]
    if not pool:
        return None
    return step[:pos] + [rng.choice(sorted(pool))] + step[pos + 1:]


def _applicable(kind: str, n: int) -> bool:
    return {"drop": n >= 1, "swap": n >= 2, "duplicate": n >= 1, "substitute": n >= 1, "truncate": n >= 1}.get(
        kind, True)


def mutate(task: Task, plan: str | list[str], rng: random.Random, kind: str | None = None) -> tuple[str, str]:
    """One mutant of `plan` (text, or a list of '(action ...)' lines): (kind applied, plan text).

    Without `kind`, one is drawn among those that apply; a kind that cannot apply (a swap
    in a one-step plan) falls back to `junk`.
    """
    if isinstance(plan, str):
        steps = [str(s) for s in parse_plan(plan).steps]
    else:
        steps = list(plan)
    n = len(steps)
    if kind is None:
        kind = rng.choice([k for k in KINDS if _applicable(k, n)])
    elif kind not in KINDS:
        raise ValueError(f"unknown mutation {kind!r}; expected one of {', '.join(KINDS)}")
    out = _apply(task, steps, rng, kind) if _applicable(kind, n) else None
    if out is None:
        kind, out = "junk", _apply(task, steps, rng, "junk")
    return kind, "".join(line + "\n" for line in out)


def _apply(task: Task, steps: list[str], rng: random.Random, kind: str) -> list[str] | None:
    n = len(steps)
    if kind == "drop":
        i = rng.randrange(n)
        return steps[:i] + steps[i + 1:]
    if kind == "swap":
        i = rng.randrange(n - 1)
        j = i + 1 if rng.random() < 0.5 else rng.randrange(i + 1, n)
        out = list(steps)
        out[i], out[j] = out[j], out[i]
        return out
    if kind == "duplicate":
        i = rng.randrange(n)
        return steps[:i + 1] + steps[i:]
    if kind == "replace":
        action = random_action(task, rng)
        if action is None:
            return None
        if not n:
            return [action]
        i = rng.randrange(n)
        return steps[:i] + [action] + steps[i + 1:]
    if kind == "substitute":
        i = rng.randrange(n)
        words = steps[i].strip("()").split()
        new = _substitute(task, words, rng)
        return None if new is None else steps[:i] + ["(" + " ".join(new) + ")"] + steps[i + 1:]
    if kind == "truncate":
        return steps[:rng.randrange(n)]
    # junk
    template = rng.choice(_JUNK)
    action = rng.choice(task.action_names) if task.action_names else "a"
    obj = rng.choice(task.objects) if task.objects else "o"
    return steps + [template.format(action=action, object=obj)]


def mutants(task: Task, plan: str, count: int, seed: int = 0) -> list[tuple[str, str]]:
    """`count` seeded mutants of `plan`, kinds drawn in turn so each kind gets its share."""
    rng = random.Random(seed)
    steps = [str(s) for s in parse_plan(plan).steps]
    return [mutate(task, steps, rng, KINDS[i % len(KINDS)]) for i in range(count)]
