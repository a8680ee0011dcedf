"""Sequential plan validation with a typed verdict.

Semantics are those of PDDL as VAL and unified-planning implement them: a step
is applicable when its precondition holds in the current state; its delete
effects are applied before its add effects; the plan is valid when every step is
applicable and the final state satisfies the goal.
"""

from __future__ import annotations

import re
from itertools import islice
from dataclasses import asdict, dataclass, replace
from enum import Enum

from iterdeploy.planning.plan import ParsedPlan, Step, parse_plan
from iterdeploy.planning.task import GroundingError, Task, format_atom
from iterdeploy.planning.text import strip_bom


class ErrorKind(str, Enum):
    SYNTAX = "syntax"
    UNKNOWN_ACTION = "unknown_action"
    WRONG_ARITY = "wrong_arity"
    UNKNOWN_OBJECT = "unknown_object"
    TYPE_MISMATCH = "type_mismatch"
    PRECONDITION = "precondition"
    GOAL = "goal"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Verdict:
    valid: bool
    length: int
    """Number of steps read from the plan text (whether or not it is valid)."""
    error: ErrorKind | None = None
    step: int | None = None
    """1-based index of the failing step, for errors tied to one step."""
    line: int | None = None
    """1-based line in the plan text where the error is."""
    atoms: tuple[str, ...] = ()
    """Unsatisfied precondition or goal literals, e.g. '(clear b1)', '(not (on b1 b2))'."""
    message: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["error"] = None if self.error is None else self.error.value
        d["atoms"] = list(self.atoms)
        return d

    def __str__(self) -> str:
        if self.valid:
            return f"valid, {self.length} steps"
        where = f" at step {self.step}" if self.step is not None else ""
        where += f" (line {self.line})" if self.line is not None else ""
        return f"invalid: {self.error}{where}: {self.message}"


_KINDS = {k.value: k for k in ErrorKind}


def validate(task: Task, plan: str | ParsedPlan | list[Step], strict: bool = False) -> Verdict:
    """Check `plan` (text, or an already parsed plan) against `task`. Never raises on any plan."""
    if isinstance(plan, str):
        plan = strip_bom(plan)
        clean = _clean(plan)
        if clean is not None:  # the common case: read and checked without building Steps
            bodies = _BODY.findall(clean)
            verdict = _check(task, map(task.ground_text, bodies), len(bodies))
            if verdict.step is not None:  # one action per line: the line of the k-th '('
                at = next(islice(_BODY.finditer(clean), verdict.step - 1, None)).start()
                verdict = replace(verdict, line=clean.count("\n", 0, at) + 1)
            return verdict
    if isinstance(plan, ParsedPlan):
        parsed = plan
    elif isinstance(plan, list):
        parsed = ParsedPlan(steps=plan)
    else:
        parsed = parse_plan(plan, strict=strict)
    steps = parsed.steps
    if parsed.errors:
        first = parsed.errors[0]
        return Verdict(False, len(steps), ErrorKind.SYNTAX, None, first.line, (), str(first))
    verdict = _check(task, (task.ground(s.name, s.args) for s in steps), len(steps))
    if verdict.step is not None:
        verdict = replace(verdict, line=steps[verdict.step - 1].line)
    return verdict


# Plan text where every line is blank or exactly one well-formed action, once comments are gone.
# Such text reads the same in strict and lenient mode, and the text inside each pair of
# parentheses is all the validator needs.
_COMMENT = re.compile(r";[^\n]*")
# Possessive quantifiers (*+): each run of blanks is matched one way only, so a line that does not
# match fails at once instead of retrying the splits of its blanks between the two [ \t]*.
_NAME = r"[A-Za-z][A-Za-z0-9_\-]*+"
_CLEAN = re.compile(rf"(?:[ \t]*+(?:\([ \t]*+{_NAME}(?:[ \t]++{_NAME})*+[ \t]*+\)[ \t]*+)?+\n)*+")
_BODY = re.compile(r"\(([^()]*)\)")
_ODD_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
"""Line breaks for str.splitlines other than \\n: text with these takes the general path."""


def _clean(text: str) -> str | None:
    """The text without comments if every line is blank or one well-formed action, else None."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if _ODD_BREAKS.search(text):
        return None
    text = _COMMENT.sub("", text) + "\n"
    return text if _CLEAN.fullmatch(text) is not None else None


def _check(task: Task, actions, length: int) -> Verdict:
    """Run the ground actions from the initial state; the verdict's `line` is left to the caller."""
    state = set(task.init)
    for k, action in enumerate(actions, start=1):
        if isinstance(action, GroundingError):
            return Verdict(False, length, _KINDS[action.kind], k, None, (), action.message)
        if not (action.pre_pos <= state and state.isdisjoint(action.pre_neg)) or action.unequal or action.equal:
            failed = _unsatisfied(action, state)
            if failed:
                return Verdict(
                    False, length, ErrorKind.PRECONDITION, k, None, failed,
                    f"precondition of {action} false: {' '.join(failed)}",
                )
        state -= action.delete
        state |= action.add
    if not (task.goal_pos <= state and state.isdisjoint(task.goal_neg)):
        missing = sorted(format_atom(a) for a in task.goal_pos - state)
        missing += sorted(f"(not {format_atom(a)})" for a in task.goal_neg & state)
        return Verdict(False, length, ErrorKind.GOAL, None, None, tuple(missing),
                       f"goal not reached: {' '.join(missing)}")
    return Verdict(True, length)


def _unsatisfied(action, state: set) -> tuple[str, ...]:
    failed = sorted(format_atom(a) for a in action.pre_pos - state)
    failed += sorted(f"(not {format_atom(a)})" for a in action.pre_neg & state)
    failed += [f"(not (= {a} {b}))" for a, b in action.unequal if a == b]
    failed += [f"(= {a} {b})" for a, b in action.equal if a != b]
    return tuple(failed)
