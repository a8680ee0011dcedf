"""Plans from text: IPC plan files and raw model output.

Lenient mode (the default) reads what a language model writes: prose around the
plan, list numbering (`1.`, `step 3:`), timestamps, a `<think>` section, any case.
Every `(name arg ...)` group outside the reasoning section is a step. Strict mode
reads IPC plan files: every line that is not blank or a `;` comment must be
exactly one action. Neither mode raises; problems come back as `PlanSyntaxError`s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_THINK = re.compile(r"<think>.*?(</think>|\Z)", re.DOTALL | re.IGNORECASE)
_GROUP = re.compile(r"\(([^()]*)\)")
_NAME = re.compile(r"[a-z][a-z0-9_\-]*\Z")
_STRICT_LINE = re.compile(r"\s*\(([^()]*)\)\s*\Z")
# A line that is exactly one well-formed action (and maybe a comment), or nothing: the common
# case in both modes, read with one match instead of the general rules below.
_CLEAN = re.compile(r"[ \t]*\([ \t]*([A-Za-z][A-Za-z0-9_\-]*(?:[ \t]+[A-Za-z][A-Za-z0-9_\-]*)*)[ \t]*\)[ \t\r]*(;.*)?")
_BLANK = re.compile(r"[ \t\r]*(;.*)?")
# What may precede an action on a numbered line: "1.", "12)", "step 3:", "0.000:", "-", "*"
_PREFIX = re.compile(r"\s*(?:(?:step\s*)?\d+(?:\.\d+)?\s*[:.)]?|[-*•])?\s*\Z", re.IGNORECASE)


@dataclass(frozen=True)
class Step:
    name: str
    args: tuple[str, ...]
    line: int
    """1-based line number in the text the step was read from."""

    def __str__(self) -> str:
        return "(" + " ".join((self.name,) + self.args) + ")"


@dataclass(frozen=True)
class PlanSyntaxError:
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}: {self.text.strip()[:80]!r}"


@dataclass
class ParsedPlan:
    steps: list[Step] = field(default_factory=list)
    errors: list[PlanSyntaxError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def __len__(self) -> int:
        return len(self.steps)

    def to_text(self) -> str:
        """The plan in IPC format, one action per line."""
        return "".join(f"{s}\n" for s in self.steps)


def _step(body: str, line: int) -> Step | str:
    words = body.lower().split()
    if not words:
        return "empty action '()'"
    for w in words:
        if not _NAME.match(w):
            return f"{w!r} is not a PDDL name"
    return Step(words[0], tuple(words[1:]), line)


def parse_plan(text: str, strict: bool = False) -> ParsedPlan:
    """Read a plan. Never raises; `errors` says what could not be read and where."""
    plan = ParsedPlan()
    if not isinstance(text, str):
        plan.errors.append(PlanSyntaxError(0, repr(text)[:80], "plan is not text"))
        return plan
    if not strict:
        # Blank out the reasoning section but keep its newlines, so line numbers still match the text.
        text = _THINK.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    steps = plan.steps
    clean, blank = _CLEAN.fullmatch, _BLANK.fullmatch
    for number, raw in enumerate(text.splitlines(), start=1):
        m = clean(raw)
        if m is not None:
            words = m.group(1).lower().split()
            steps.append(Step(words[0], tuple(words[1:]), number))
            continue
        if blank(raw) is not None:
            continue
        line = raw.split(";", 1)[0]
        if not line.strip():
            continue
        if strict:
            m = _STRICT_LINE.match(line)
            if m is None:
                plan.errors.append(PlanSyntaxError(number, raw, "expected exactly one '(action arg ...)' on the line"))
                continue
            bodies = [m.group(1)]
        else:
            groups = list(_GROUP.finditer(line))
            first = line.find("(")
            if not groups:
                if first >= 0 and _PREFIX.match(line[:first]):
                    plan.errors.append(PlanSyntaxError(number, raw, "unclosed '(' in an action"))
                continue
            # Prose that merely mentions parentheses is skipped; a line that starts like a plan step is not.
            if not _PREFIX.match(line[:groups[0].start()]):
                continue
            bodies = [g.group(1) for g in groups]
            rest = line[groups[0].start():]  # after the numbering, which may be "2)"
            if rest.count("(") != rest.count(")"):
                plan.errors.append(PlanSyntaxError(number, raw, "unbalanced parentheses"))
                continue
        for body in bodies:
            step = _step(body, number)
            if isinstance(step, str):
                plan.errors.append(PlanSyntaxError(number, raw, step))
            else:
                plan.steps.append(step)
    return plan
