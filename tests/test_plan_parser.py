"""Plans from text: IPC plan files (strict) and raw model output (lenient)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.planning import ParsedPlan, Step, parse_plan, task_from_text, validate

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


# --------------------------------------------------------------------------- read as VAL reads

@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("name", ["pic\u212Aup", "pi\u0130ck", "pick\u017f", "pickup\u00a0b1", "pick\x1fup"])
def test_names_are_ascii_and_not_case_folded(strict, name):
    """str.lower() maps the Kelvin sign to 'k' (and U+0130 to 'i'); str.split() splits at U+00A0 and
    U+001F. VAL reads all of these as characters of a name, which no PDDL name has."""
    plan = parse_plan(f"({name} b1)\n", strict=strict)
    assert not plan.steps and not plan.ok
    assert "is not a PDDL name" in plan.errors[0].reason


@pytest.mark.parametrize("strict", [True, False])
def test_a_byte_order_mark_is_not_part_of_the_first_line(strict):
    plan = parse_plan("\ufeff(pick-up b1)\n(stack b1 b2)\n", strict=strict)
    assert plan.ok and _steps(plan) == [("pick-up", ("b1",), 1), ("stack", ("b1", "b2"), 2)]


def test_think_tags_in_comments_open_no_reasoning_section():
    text = "(pick-up b1)\n; <think>\n(stack b1 b2)\n; </think>\n(pick-up b3)\n"
    assert [s.line for s in parse_plan(text).steps] == [1, 3, 5]
    assert _steps(parse_plan(text)) == _steps(parse_plan(text, strict=True))
    # a reasoning section is all reasoning, a ';' included, and may end mid-line
    text = "<think>first; then\n(pick-up b9)</think> (pick-up b1)\n(stack b1 b2) ; <think> not a section\n"
    assert _steps(parse_plan(text)) == [("pick-up", ("b1",), 2), ("stack", ("b1", "b2"), 3)]
    # a tag after a ';' on a line that also has a closed section
    text = "<think>x</think>(a b) ; <think>\n(c d)\n"
    assert _steps(parse_plan(text)) == [("a", ("b",), 1), ("c", ("d",), 2)]


def test_errors_echo_at_most_60_characters_escaped():
    plan = parse_plan("(pick-up " + "\0" * 4096 + ")\n")
    message = str(plan.errors[0])
    assert len(message) < 400 and "\0" not in message and "\\x00" in message and message.endswith("...")


_COMMENT_TEXT = st.lists(st.sampled_from(["<think>", "</think>", "(a b)", " ", "x", "1.", "\t", "(", ")"]),
                         max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(plan_like, st.lists(st.tuples(st.integers(min_value=0), _COMMENT_TEXT), max_size=4))
def test_comment_lines_never_change_the_steps(text, comments):
    """Inserting `; ...` lines (whatever they hold) between lines outside a reasoning section changes
    no step, in either mode; only line numbers move."""
    lines = text.splitlines()
    for strict in (True, False):
        if not strict and any(t in text.lower() for t in ("<think>", "</think>")):
            continue  # an insertion could land inside a section, where ';' is reasoning, not a comment
        before = [(s.name, s.args) for s in parse_plan("\n".join(lines) + "\n", strict=strict).steps]
        mixed = list(lines)
        for at, comment in comments:
            mixed.insert(at % (len(mixed) + 1), "; " + comment)
        after = [(s.name, s.args) for s in parse_plan("\n".join(mixed) + "\n", strict=strict).steps]
        assert after == before


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), plan_like), st.booleans())
def test_steps_are_ascii_pddl_names(text, strict):
    for step in parse_plan(text, strict=strict).steps:
        for word in (step.name, *step.args):
            assert word.isascii() and word == word.lower() and word[0].isalpha(), word
            assert set(word) <= set("abcdefghijklmnopqrstuvwxyz0123456789-_")


# --------------------------------------------------------------------------- linear time on any text

_TIME_TASK = task_from_text(
    "(define (domain d) (:predicates (p ?x)) (:action a :parameters (?x) :precondition (p ?x) :effect (p ?x)))",
    "(define (problem q) (:domain d) (:objects o) (:init (p o)) (:goal (and)))")


def _scales_linearly(piece: str, suffix: str, sizes: list[int]) -> tuple[bool, str]:
    """Time to read `piece` repeated to each size (strict, lenient, and both through the validator),
    growing 4x a step: linear is 4x as long. The bound is 8x, and never under 0.25 s: quadratic
    text fails at the second step already (8,000 blanks took 0.39 s, 4x that size 16x as long),
    while a busy machine can stretch a few milliseconds by any factor. Best of 3 with the cyclic
    GC off (its passes over a big test process's heap are not the parser's cost), and a step that
    fails is measured once more before it counts."""
    import gc
    import time

    def best(size: int) -> float:
        text = piece * (size // len(piece)) + suffix
        times = []
        gc.disable()
        try:
            for _ in range(3):
                start = time.perf_counter()
                for strict in (False, True):
                    parse_plan(text, strict=strict)
                    validate(_TIME_TASK, text, strict=strict)
                times.append(time.perf_counter() - start)
        finally:
            gc.enable()
        return min(times)

    previous = best(sizes[0])
    for size in sizes[1:]:
        now = best(size)
        if now > max(8 * previous, 0.25):
            previous, now = best(size // 4), best(size)
            if now > max(8 * previous, 0.25):
                return False, f"{piece!r}+{suffix!r}: {previous:.3f} s, then {now:.3f} s at {size:,} characters"
        previous = now
    return True, ""


@pytest.mark.parametrize("piece, suffix", [
    (" ", "x("),            # the report: blanks, a word, '(' (13 s at 60,000 blanks)
    (" ", "x (a o)"),
    ("\t ", "-("),
    ("  \n", "x"),          # blank lines, then a line that is not clean
    ("(a ", ""),
    ("1.", "(a o)"),
    ("step ", "(a o)"),
    (";<think>", ""),
    ("<think></think>", ""),
    ("(a o) ", "("),
    ("  (a o)  \n", "x"),
])
def test_reading_a_megabyte_of_adversarial_text_is_linear(piece, suffix):
    ok, detail = _scales_linearly(piece, suffix, [15_625, 62_500, 250_000, 1_000_000])
    assert ok, detail


_TIME_PIECES = st.sampled_from([" ", "\t", "\n", "\r", "(", ")", "a", "1", ".", ":", ";", "-", "step", "<think>",
                                "</think>", "é", "\u2028", "(a o)", "x"])


@settings(max_examples=10, deadline=None)
@given(st.lists(_TIME_PIECES, min_size=1, max_size=4).map("".join), st.lists(_TIME_PIECES, max_size=3).map("".join))
def test_reading_repeated_patterns_is_linear(piece, suffix):
    ok, detail = _scales_linearly(piece, suffix, [16_000, 64_000, 256_000])
    assert ok, detail
