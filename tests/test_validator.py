"""The validator on hand-made tasks: every verdict kind, and the semantics that are easy to get wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import IPC_ROOT
from iterdeploy.planning import ErrorKind, Verdict, load_task, parse_plan, task_from_text, validate

DOMAIN = """(define (domain tiny)
  (:requirements :strips :typing :negative-preconditions :equality)
  (:types block - object table - object small - block)
  (:constants t0 - table)
  (:predicates (on ?x - block ?y - object) (clear ?x - object) (holding ?x - block) (empty) (flag))
  (:action pick
    :parameters (?b - block ?from - object)
    :precondition (and (on ?b ?from) (clear ?b) (empty) (not (= ?b ?from)))
    :effect (and (holding ?b) (clear ?from) (not (on ?b ?from)) (not (clear ?b)) (not (empty))))
  (:action put
    :parameters (?b - block ?to - object)
    :precondition (and (holding ?b) (clear ?to) (not (= ?b ?to)))
    :effect (and (on ?b ?to) (clear ?b) (empty) (not (holding ?b)) (not (clear ?to))))
  (:action set-on-table :parameters (?b - small) :precondition (and (not (flag)))
    :effect (and (flag) (on ?b t0)))
  (:action toggle-del-add :parameters () :precondition (flag) :effect (and (not (flag)) (flag)))
  (:action toggle-add-del :parameters () :precondition (flag) :effect (and (flag) (not (flag))))
  (:action same :parameters (?x ?y - object) :precondition (= ?x ?y) :effect (empty))
)"""
PROBLEM = """(define (problem two) (:domain tiny)
  (:objects a b - block s - small)
  (:init (on a t0) (on b t0) (clear a) (clear b) (clear t0) (empty) (on s t0) (clear s))
  (:goal (and (on a b) (not (holding a)))))"""


@pytest.fixture(scope="module")
def task():
    return task_from_text(DOMAIN, PROBLEM)


def test_valid_plan(task):
    verdict = validate(task, "(pick a t0)\n(put a b)\n")
    assert verdict == Verdict(True, 2)
    assert verdict.to_dict() == {"valid": True, "length": 2, "error": None, "step": None, "line": None,
                                 "atoms": [], "message": ""}
    assert str(verdict) == "valid, 2 steps"


@pytest.mark.parametrize("text, kind, step, line, atoms, words", [
    ("(pick a t0)\n(put a b\n", ErrorKind.SYNTAX, None, 2, (), ["line 2"]),
    ("(pick a t0)\n(fly a)\n", ErrorKind.UNKNOWN_ACTION, 2, 2, (), ["unknown action 'fly'"]),
    ("(pick a t0)\n(put a)\n", ErrorKind.WRONG_ARITY, 2, 2, (), ["put takes 2 arguments, not 1"]),
    ("(pick a t0)\n(put a b t0)\n", ErrorKind.WRONG_ARITY, 2, 2, (), ["not 3"]),
    ("(pick a t0)\n(put a c)\n", ErrorKind.UNKNOWN_OBJECT, 2, 2, (), ["unknown object 'c'"]),
    ("(pick t0 a)\n", ErrorKind.TYPE_MISMATCH, 1, 1, (), ["argument 1 of pick must be of type block", "'table'"]),
    ("(set-on-table a)\n", ErrorKind.TYPE_MISMATCH, 1, 1, (), ["must be of type small"]),
    ("; comment\n\n(pick a t0)\n(pick b t0)\n", ErrorKind.PRECONDITION, 2, 4, ("(empty)",), ["(pick b t0)"]),
    ("(put a b)\n", ErrorKind.PRECONDITION, 1, 1, ("(holding a)",), []),
    ("(pick a t0)\n", ErrorKind.GOAL, None, None, ("(on a b)", "(not (holding a))"), ["goal not reached"]),
    ("", ErrorKind.GOAL, None, None, ("(on a b)",), []),
    ("(pick a a)\n", ErrorKind.PRECONDITION, 1, 1, ("(on a a)", "(not (= a a))"), []),
    ("(same a b)\n", ErrorKind.PRECONDITION, 1, 1, ("(= a b)",), []),
])
def test_each_error_kind(task, text, kind, step, line, atoms, words):
    for strict in (True, False):
        verdict = validate(task, text, strict=strict)
        assert not verdict.valid
        assert (verdict.error, verdict.step, verdict.line, verdict.atoms) == (kind, step, line, atoms), verdict
        for word in words:
            assert word in str(verdict)
        assert verdict.to_dict()["error"] == kind.value


def test_length_counts_the_steps_read(task):
    assert validate(task, "(pick a t0)\n(fly)\n(put a b)\n").length == 3
    assert validate(task, "(pick a t0)\n(put a b\n").length == 1


def test_delete_before_add(task):
    """Effects (not p) and p together leave p true, in either order (PDDL semantics; VAL and UP agree)."""
    for action in ("toggle-del-add", "toggle-add-del"):
        plan = f"(set-on-table s)\n({action})\n(set-on-table s)\n"
        verdict = validate(task, plan)
        assert verdict.error == ErrorKind.PRECONDITION and verdict.step == 3 and verdict.atoms == ("(not (flag))",)


def test_equality_and_negative_preconditions(task):
    assert validate(task, "(same a a)\n(pick a t0)\n(put a b)\n").valid
    assert validate(task, "(set-on-table s)\n(set-on-table s)\n").atoms == ("(not (flag))",)


def test_subtypes_and_constants(task):
    """`s` is a small, hence a block; `t0` is a domain constant usable in plans."""
    assert validate(task, "(pick s t0)\n(put s a)\n(pick s a)\n(put s t0)\n(pick a t0)\n(put a b)\n").valid


def test_parsed_plans_and_step_lists(task):
    text = "(pick a t0)\n(put a b)\n"
    assert validate(task, parse_plan(text)) == validate(task, text)
    assert validate(task, parse_plan(text).steps).valid


def _ipc(domain, problem):
    return load_task(IPC_ROOT / domain / "domain.pddl", IPC_ROOT / domain / problem)


def test_ferry_negative_precondition(ipc_root):
    task = _ipc("ferry", "training/easy/p01.pddl")
    assert validate(task, "(board car1 loc1)\n(sail loc1 loc2)\n(debark car1 loc2)\n", strict=True).valid
    verdict = validate(task, "(board car1 loc1)\n(sail loc1 loc1)\n")
    assert verdict.error == ErrorKind.PRECONDITION and verdict.atoms == ("(not (at-ferry loc1))",)


def test_childsnack_negative_precondition_and_constant(ipc_root):
    task = _ipc("childsnack", "training/easy/p01.pddl")
    tray = next(o for o, t in task.problem.objects.items() if t == "tray")
    assert ("at", tray, "kitchen") in task.init
    verdict = validate(task, f"(move_tray {tray} kitchen kitchen)\n")
    assert verdict.error == ErrorKind.PRECONDITION and verdict.atoms == (f"(not (at {tray} kitchen))",)


# --------------------------------------------------------------------------- never raises

_WORDS = ["pick", "put", "same", "fly", "a", "b", "s", "t0", "c", "A", "PICK", "set-on-table", "toggle-del-add"]
_TOKENS = st.sampled_from(["(", ")", " ", "\n", "\r\n", ";", "1.", "step 2:", "\t", "", "é", "\u2028", "<think>",
                           *_WORDS])
token_soup = st.lists(_TOKENS, max_size=60).map("".join)
action_lines = st.lists(
    st.tuples(st.sampled_from(_WORDS), st.lists(st.sampled_from(_WORDS), max_size=3)).map(
        lambda t: "(" + " ".join([t[0], *t[1]]) + ")"),
    max_size=8).map("\n".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), token_soup, action_lines), st.booleans())
def test_validate_never_raises_and_agrees_with_the_parsed_path(task, text, strict):
    verdict = validate(task, text, strict=strict)
    assert isinstance(verdict, Verdict)
    assert verdict.valid == (verdict.error is None)
    # The fast path for clean text and the general path give the same verdict, line included.
    assert validate(task, parse_plan(text, strict=strict)) == verdict
