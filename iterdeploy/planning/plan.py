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

from iterdeploy.planning.text import excerpt, strip_bom

_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE | re.ASCII)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE | re.ASCII)
_GROUP = re.compile(r"\(([^()]*)\)")
# Names are ASCII, as VAL reads them: checked before lower-casing, since str.lower() folds the
# Kelvin sign U+212A to 'k'; words are split on ASCII whitespace only (str.split() also splits on
# U+00A0 and U+001C..U+001F, which VAL reads as part of a name).
_WORD = re.compile(r"[^ \t\n\r\f\v]+")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*\Z")
_STRICT_LINE = re.compile(r"\s*\(([^()]*)\)\s*\Z")
# A line that is exactly one well-formed action (and maybe a comment), or nothing: the common
# case in both modes, read with one match instead of the general rules below.
_CLEAN = re.compile(r"[ \t]*+\([ \t]*+([A-Za-z][A-Za-z0-9_\-]*+(?:[ \t]++[A-Za-z][A-Za-z0-9_\-]*+)*+)[ \t]*+\)"
                    r"[ \t\r]*+(;.*)?")
_BLANK = re.compile(r"[ \t\r]*+(;.*)?")
# What may precede an action on a numbered line: "1.", "12)", "step 3:", "0.000:", "-", "*".
# Matched against the stripped text before the '(': a pattern with \s* on both sides of an optional
# part backtracks quadratically on a long run of spaces.
_PREFIX = re.compile(r"(?:(?:step\s*)?\d+(?:\.\d+)?\s*[:.)]?|[-*•])?\Z", re.IGNORECASE | re.ASCII)


def _is_prefix(text: str) -> bool:
    return _PREFIX.match(text.strip()) is not None


def _blank_reasoning(lines: list[str]) -> list[str]:
    """The lines with each `<think>` ... `</think>` section (or an unclosed one, to the end) cut out,
    one line per line still, so line numbers match the text. A tag inside a `;` comment opens
    nothing: a commented-out line must not delete the actions after it. Inside a section all is
    reasoning, a ';' included, up to the first `</think>`."""
    out, inside = [], False
    for line in lines:
        kept, i = [], 0
        semi = line.find(";")
        while True:
            if inside:
                close = _THINK_CLOSE.search(line, i)
                if close is None:
                    break
                inside, i = False, close.end()
                continue
            if 0 <= semi < i:  # that ';' was inside a section: find the next one (once per ';')
                semi = line.find(";", i)
            tag = _THINK_OPEN.search(line, i)
            if tag is None or 0 <= semi < tag.start():
                kept.append(line[i:])
                break
            kept.append(line[i:tag.start()])
            inside, i = True, tag.end()
        out.append(" ".join(kept))
    return out


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
        return f"line {self.line}: {self.reason}: {excerpt(self.text.strip())}"


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
    words = _WORD.findall(body)
    if not words:
        return "empty action '()'"
    for w in words:
        if not _NAME.match(w):
            return f"{excerpt(w)} is not a PDDL name"
    words = [w.lower() for w in words]  # ASCII only by now
    return Step(words[0], tuple(words[1:]), line)


def parse_plan(text: str, strict: bool = False) -> ParsedPlan:
    """Read a plan. Never raises; `errors` says what could not be read and where."""
    plan = ParsedPlan()
    if not isinstance(text, str):
        plan.errors.append(PlanSyntaxError(0, repr(text)[:80], "plan is not text"))
        return plan
    text = strip_bom(text)
    lines = text.splitlines()
    if not strict and _THINK_OPEN.search(text):
        lines = _blank_reasoning(lines)
    steps = plan.steps
    clean, blank = _CLEAN.fullmatch, _BLANK.fullmatch
    for number, raw in enumerate(lines, start=1):
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
                if first >= 0 and _is_prefix(line[:first]):
                    plan.errors.append(PlanSyntaxError(number, raw, "unclosed '(' in an action"))
                continue
            # Prose that merely mentions parentheses is skipped; a line that starts like a plan step is not.
            if not _is_prefix(line[:groups[0].start()]):
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
