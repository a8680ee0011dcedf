"""Seeded plan mutations."""

from __future__ import annotations

import random

import pytest

from conftest import IPC_ROOT
from iterdeploy.planning import load_task, parse_plan, validate
from iterdeploy.testing.mutations import KINDS, mutants, mutate, random_action


@pytest.fixture(scope="module")
def rovers(ipc_root):
    task = load_task(IPC_ROOT / "rovers" / "domain.pddl", IPC_ROOT / "rovers" / "training" / "easy" / "p01.pddl")
    plan = (IPC_ROOT / "rovers" / "plans" / "training" / "easy" / "p01.plan").read_text()
    return task, plan, [str(s) for s in parse_plan(plan).steps]


def test_seeded_and_deterministic(rovers):
    task, plan, _ = rovers
    assert mutants(task, plan, 50, seed=7) == mutants(task, plan, 50, seed=7)
    assert mutants(task, plan, 50, seed=7) != mutants(task, plan, 50, seed=8)
    assert [k for k, _ in mutants(task, plan, 14)] == list(KINDS) * 2


def test_each_kind_changes_the_plan_as_named(rovers):
    task, plan, steps = rovers
    rng = random.Random(0)
    for _ in range(30):
        for kind in KINDS:
            got, text = mutate(task, plan, rng, kind)
            assert got == kind
            parsed = parse_plan(text, strict=True)
            lines = text.splitlines()
            if kind == "drop":
                assert parsed.ok and len(lines) == len(steps) - 1
            elif kind == "duplicate":
                assert parsed.ok and len(lines) == len(steps) + 1
                assert any(lines[i] == lines[i + 1] for i in range(len(lines) - 1))
            elif kind == "swap":
                assert parsed.ok and sorted(lines) == sorted(steps)
            elif kind == "truncate":
                assert parsed.ok and lines == steps[:len(lines)] and len(lines) < len(steps)
            elif kind in ("replace", "substitute"):
                assert parsed.ok and len(lines) == len(steps)
                assert sum(a != b for a, b in zip(lines, steps)) <= 1
            else:  # junk: the plan, then one line no reader accepts as a valid step
                assert lines[:-1] == steps and not validate(task, text).valid


def test_random_actions_are_well_typed(rovers):
    task, _, _ = rovers
    rng = random.Random(1)
    for _ in range(200):
        verdict = validate(task, random_action(task, rng) + "\n")
        assert verdict.error in (None, "precondition", "goal"), verdict


def test_plans_without_steps_and_bad_kinds(rovers):
    task, _, _ = rovers
    rng = random.Random(2)
    kind, text = mutate(task, "", rng, "swap")
    assert kind == "junk" and not validate(task, text).valid
    assert mutate(task, "", rng, "replace")[0] == "replace"
    assert {mutate(task, "", rng)[0] for _ in range(20)} <= {"replace", "junk"}
    with pytest.raises(ValueError, match="unknown mutation"):
        mutate(task, "", rng, "shuffle")
