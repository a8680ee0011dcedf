"""Plans from text: IPC plan files (strict) and raw model output (lenient)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.planning import ParsedPlan, Step, parse_plan

IPC = """; a reference plan
(pick-up b1)
(STACK b1  B2)   ; trailing comment
\t( putdown   b3 )

; cost = 3 (unit cost)
"""


def _steps(plan: ParsedPlan) -> list[tuple]:
    return [(s.name, s.args, s.line) for s in plan.steps]


@pytest.mark.parametrize("strict", [True, False])
def test_ipc_plan_file(strict):
    plan = parse_plan(IPC, strict=strict)
    assert plan.ok and len(plan) == 3
    assert _steps(plan) == [("pick-up", ("b1",), 2), ("stack", ("b1", "b2"), 3), ("putdown", ("b3",), 4)]
    assert plan.to_text() == "(pick-up b1)\n(stack b1 b2)\n(putdown b3)\n"
    assert str(plan.steps[1]) == "(stack b1 b2)"


@pytest.mark.parametrize("strict", [True, False])
def test_empty_plan_and_crlf(strict):
    assert parse_plan("", strict=strict).ok and not parse_plan("", strict=strict).steps
    assert parse_plan("; nothing to do\n\n", strict=strict).ok
    plan = parse_plan("(a x)\r\n\r\n(b y)\r\n", strict=strict)
    assert _steps(plan) == [("a", ("x",), 1), ("b", ("y",), 3)]


MODEL_OUTPUT = """Sure! Here is a plan (I checked it twice):

1. (pick-up b1)
2) (stack b1 b2)
Step 3: (pick-up b3)
step 4 - nothing here
- (put-down b3)
* (pick-up b3)
0.000: (stack b3 b1) [1]
   12.   (PICK-UP   B4)

This plan (with 7 steps) reaches the goal.
"""


def test_lenient_tolerates_prose_numbering_and_whitespace():
    plan = parse_plan(MODEL_OUTPUT)
    assert plan.ok, plan.errors
    assert [str(s) for s in plan.steps] == [
        "(pick-up b1)", "(stack b1 b2)", "(pick-up b3)", "(put-down b3)", "(pick-up b3)", "(stack b3 b1)",
        "(pick-up b4)"]
    assert [s.line for s in plan.steps] == [3, 4, 5, 7, 8, 9, 10]


def test_lenient_skips_reasoning_and_keeps_line_numbers():
    text = "<think>\nmaybe (pick-up b9)?\n</think>\n(pick-up b1)\n"
    plan = parse_plan(text)
    assert _steps(plan) == [("pick-up", ("b1",), 4)]
    unfinished = parse_plan("<think>\n(pick-up b9)\n")
    assert unfinished.ok and not unfinished.steps


def test_lenient_several_actions_on_a_line():
    plan = parse_plan("(a x) (b y)\n")
    assert _steps(plan) == [("a", ("x",), 1), ("b", ("y",), 1)]


@pytest.mark.parametrize("line, reason", [
    ("1. (pick-up b1)", "expected exactly one"),
    ("Here is the plan:", "expected exactly one"),
    ("(pick-up b1) (stack b1 b2)", "expected exactly one"),
    ("(pick-up b1", "expected exactly one"),
    ("(pick-up (b1))", "expected exactly one"),
    ("()", "empty action"),
    ("(pick-up b1!)", "'b1!' is not a PDDL name"),
    ("(3 b1)", "'3' is not a PDDL name"),
])
def test_strict_rejects_anything_but_the_plan(line, reason):
    plan = parse_plan(f"(pick-up b0)\n{line}\n(stack b0 b1)\n", strict=True)
    assert not plan.ok
    (error,) = plan.errors
    assert error.line == 2 and error.text == line and reason in error.reason
    assert str(error).startswith("line 2: ")


@pytest.mark.parametrize("text, line, reason", [
    ("1. (pick-up b1\n", 1, "unclosed '('"),
    ("ok\n(pick-up b1))\n", 2, "unbalanced parentheses"),
    ("(pick-up b1)\n2. ()\n", 2, "empty action"),
    ("(pick-up b1)\n(pick-up b#1)\n", 2, "is not a PDDL name"),
])
def test_lenient_rejections_carry_reason_and_line(text, line, reason):
    plan = parse_plan(text)
    assert not plan.ok
    assert plan.errors[0].line == line and reason in plan.errors[0].reason
    assert plan.errors[0].text == text.splitlines()[line - 1]


def test_prose_that_mentions_parentheses_is_not_a_step():
    plan = parse_plan("The arm (which is empty) picks up b1.\n(pick-up b1)\n")
    assert plan.ok and _steps(plan) == [("pick-up", ("b1",), 2)]


@pytest.mark.parametrize("value", [None, 42, b"(pick-up b1)", ["(a)"]])
def test_non_text_is_an_error_not_an_exception(value):
    plan = parse_plan(value)
    assert not plan.ok and plan.errors[0].reason == "plan is not text"


def test_step_is_a_value():
    assert Step("a", ("x",), 1) == Step("a", ("x",), 1)
    assert len({Step("a", ("x",), 1), Step("a", ("x",), 1)}) == 1


# Text built from the pieces plans are made of: parentheses, names, numbers, separators, junk.
_PIECES = st.sampled_from(["(", ")", " ", "\n", "\r\n", "\r", "\t", ";", "pick-up", "B1", "1.", "step 2:", "0.5:",
                           "[1]", "<think>", "</think>", "-", "*", "é", "\x00", "\u2028", "()", "(a b)", "ok"])
plan_like = st.lists(_PIECES, max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), plan_like), st.booleans())
def test_parse_plan_never_raises_and_steps_are_well_formed(text, strict):
    plan = parse_plan(text, strict=strict)
    lines = len(text.splitlines())
    for step in plan.steps:
        assert step.name and step.name == step.name.lower() and 1 <= step.line <= lines
        assert all(arg and not set("() ;\t\n") & set(arg) for arg in step.args)
    for error in plan.errors:
        assert error.reason and 1 <= error.line <= lines
    if strict and plan.ok:  # every non-blank, non-comment line is one action
        meaningful = [ln for ln in text.splitlines() if ln.split(";", 1)[0].strip()]
        assert len(meaningful) == len(plan.steps)
