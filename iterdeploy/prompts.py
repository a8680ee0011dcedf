"""Prompt formats: what a model is conditioned on, what it is trained to write, and how its text becomes a plan.

`compact` is for the embedded word-level model: the task's initial state and goal as
a token stream, then the plan, e.g.

    blocksworld init arm-empty clear object3 on object3 object1 ... goal on object1 object2 plan
    unstack object3 object1 ; putdown object3 ; ... end

Objects are renamed to generic per-type tokens drawn by a seeded random choice
from `<type>1 .. <type>N`, so the model cannot memorise names, every object token
is trained even when training tasks are small, and `plan_from_completion` maps the
plan back to the task's real names.

`pddl-chat` is for instruction-tuned models (e.g. Qwen3): the domain and problem
PDDL inside the model's own chat template, with a short instruction. A reasoning
section (`<think>...</think>`) stays in the completion; the plan parser skips it.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Protocol, runtime_checkable

from iterdeploy.errors import ConfigError
from iterdeploy.model.tokenizer import END, GOAL, INIT, NOT, PLAN, SEP, object_token, vocab_max_objects
from iterdeploy.planning import ParsedPlan, Step, Task, parse_plan
from iterdeploy.planning.plan import PlanSyntaxError

FORMATS = ("compact", "pddl-chat")


@runtime_checkable
class PromptFormat(Protocol):
    name: str

    def prompt(self, task: Task, seed: int) -> str:
        """The text the model is conditioned on."""

    def completion(self, task: Task, plan_steps: list[str], seed: int) -> str:
        """The training target for a plan given as '(action arg ...)' strings in the task's real names."""

    def plan_from_completion(self, task: Task, completion: str, seed: int) -> ParsedPlan:
        """The plan a completion states, in the task's real names; `errors` says why a completion is no plan."""


def _token_key(token: str) -> tuple[str, int]:
    """'car12' -> ('car', 12): generic names sort by number, not as text."""
    stem = token.rstrip("0123456789")
    return stem, int(token[len(stem):] or 0)


def _steps_from_strings(plan_steps: list[str]) -> list[Step]:
    parsed = parse_plan("\n".join(plan_steps), strict=True)
    if parsed.errors or len(parsed.steps) != len(plan_steps):
        why = parsed.errors[0] if parsed.errors else plan_steps
        raise ConfigError(f"not a list of '(action arg ...)' steps: {why}")
    return parsed.steps


class CompactFormat:
    """Word-level state/goal/plan stream with seeded generic object names (for the embedded model)."""

    name = "compact"

    def __init__(self, max_objects: int = 32, vocabulary: set[str] | None = None):
        self.max_objects = max_objects
        self.vocabulary = vocabulary
        """When set, prompts with words outside it are refused (the task's domain is not covered)."""

    @classmethod
    def for_tokenizer(cls, tokenizer) -> CompactFormat:
        n = vocab_max_objects(tokenizer)
        if n is None:
            raise ConfigError("format 'compact' needs the word-level tokenizer of an embedded model "
                              "(no object tokens in this vocabulary); use 'pddl-chat' for chat models")
        return cls(n, set(tokenizer.get_vocab()))

    def names(self, task: Task, seed: int) -> dict[str, str]:
        """Real object name -> generic token. Seeded by `seed` and the task's content, stable across calls."""
        key = f"{seed}\0{task.name}\0" + "\0".join(f"{o}:{t}" for o, t in sorted(task.problem.objects.items()))
        rng = random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))
        by_type: dict[str, list[str]] = {}
        for obj in sorted(task.problem.objects):
            by_type.setdefault(task.problem.objects[obj], []).append(obj)
        names = {}
        for type_name in sorted(by_type):
            objs = by_type[type_name]
            if len(objs) > self.max_objects:
                raise ConfigError(f"task {task.name} has {len(objs)} objects of type {type_name!r}; "
                                  f"format 'compact' has names for {self.max_objects}")
            for obj, i in zip(objs, rng.sample(range(1, self.max_objects + 1), len(objs))):
                names[obj] = object_token(type_name, i)
        return names

    def _atoms(self, task: Task, atoms, names: dict[str, str]) -> list[list[str]]:
        # Order: predicates as the domain declares them, then by generic argument numbers. The names are
        # random, so the order carries no trace of the real names, and equal renamings give equal texts.
        order = {p: i for i, p in enumerate(task.domain.predicates)}

        def key(atom):
            return order.get(atom[0], len(order)), [_token_key(names.get(a, a)) for a in atom[1:]]

        return [[atom[0]] + [names.get(a, a) for a in atom[1:]] for atom in sorted(atoms, key=key)]

    def prompt(self, task: Task, seed: int) -> str:
        names = self.names(task, seed)
        words = [task.domain_name, INIT]
        for atom in self._atoms(task, task.init, names):
            words += atom
        words.append(GOAL)
        for atom in self._atoms(task, task.goal_pos, names):
            words += atom
        for atom in self._atoms(task, task.goal_neg, names):
            words += [NOT] + atom
        words.append(PLAN)
        if self.vocabulary is not None:
            missing = sorted({w for w in words if w not in self.vocabulary})
            if missing:
                raise ConfigError(f"task {task.name} ({task.domain_name}) uses words outside the model's vocabulary: "
                                  f"{', '.join(missing[:5])}; build the tokenizer with this domain")
        return " ".join(words)

    def completion(self, task: Task, plan_steps: list[str], seed: int) -> str:
        names = self.names(task, seed)
        words: list[str] = []
        for step in _steps_from_strings(plan_steps):
            unknown = [a for a in step.args if a not in names and a not in task.domain.constants]
            if unknown:
                raise ConfigError(f"plan step {step} names objects not in task {task.name}: {', '.join(unknown)}")
            words += [step.name] + [names.get(a, a) for a in step.args] + [SEP]
        return " ".join(words + [END])

    def plan_from_completion(self, task: Task, completion: str, seed: int) -> ParsedPlan:
        """Steps are numbered 1, 2, ... in `Step.line` (the compact stream has no lines)."""
        real = {generic: obj for obj, generic in self.names(task, seed).items()}
        plan = ParsedPlan()
        words = completion.lower().split() if isinstance(completion, str) else None
        if words is None:
            plan.errors.append(PlanSyntaxError(0, repr(completion)[:80], "completion is not text"))
            return plan
        if END not in words:
            reason = "empty completion" if not words else f"no '{END}' marker: the plan was cut off or never finished"
            plan.errors.append(PlanSyntaxError(0, " ".join(words[-12:]), reason))
            words_to_read = words
        else:
            words_to_read = words[:words.index(END)]
        chunks = " ".join(words_to_read).split(SEP)
        if chunks and not chunks[-1].strip():
            chunks.pop()  # the separator after the last action
        for number, chunk in enumerate(chunks, start=1):
            parts = chunk.split()
            if not parts:
                plan.errors.append(PlanSyntaxError(number, chunk, f"empty action between '{SEP}' separators"))
                continue
            name, args = parts[0], parts[1:]
            bad = [a for a in args if a not in real and a not in task.domain.constants]
            if bad:
                plan.errors.append(PlanSyntaxError(number, chunk, f"{bad[0]!r} names no object of this task"))
                continue
            plan.steps.append(Step(name, tuple(real.get(a, a) for a in args), number))
        if not plan.steps and not plan.errors:
            plan.errors.append(PlanSyntaxError(0, completion[:80], "no actions before 'end'"))
        return plan


DEFAULT_INSTRUCTION = (
    "Solve the following planning problem. Write the plan as a sequence of actions, one per line, each in "
    "PDDL syntax `(action-name arg1 arg2 ...)`, using the action names of the domain and the object names of "
    "the problem. Write nothing after the plan."
)


class PddlChatFormat:
    """Domain and problem PDDL inside the tokenizer's chat template (for instruction-tuned models)."""

    name = "pddl-chat"

    def __init__(self, tokenizer, instruction: str = DEFAULT_INSTRUCTION, system: str | None = None,
                 enable_thinking: bool | None = None):
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ConfigError("format 'pddl-chat' needs a tokenizer with a chat template "
                              "(an instruction-tuned model); use 'compact' for the embedded model")
        self.tokenizer = tokenizer
        self.instruction = instruction
        self.system = system
        self.enable_thinking = enable_thinking
        """Passed to templates that understand it (Qwen3); None leaves the template's default."""

    def messages(self, task: Task) -> list[dict]:
        user = (f"{self.instruction}\n\nDomain:\n```pddl\n{pddl_text(task, 'domain')}\n```\n\n"
                f"Problem:\n```pddl\n{pddl_text(task, 'problem')}\n```")
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + [{"role": "user", "content": user}]

    def prompt(self, task: Task, seed: int) -> str:
        extra = {} if self.enable_thinking is None else {"enable_thinking": self.enable_thinking}
        return self.tokenizer.apply_chat_template(self.messages(task), tokenize=False, add_generation_prompt=True,
                                                  **extra)

    def completion(self, task: Task, plan_steps: list[str], seed: int, reasoning: str | None = None) -> str:
        """The plan, one action per line; with `reasoning`, preceded by a `<think>` section."""
        plan = "".join(f"{s}\n" for s in _steps_from_strings(plan_steps))
        return plan if reasoning is None else f"<think>\n{reasoning.strip()}\n</think>\n\n{plan}"

    def plan_from_completion(self, task: Task, completion: str, seed: int) -> ParsedPlan:
        plan = parse_plan(completion)
        if isinstance(completion, str) and not plan.errors:
            lower = completion.lower()
            if "<think>" in lower and "</think>" not in lower:
                plan.errors.append(PlanSyntaxError(0, completion[-80:], "reasoning section never closed (cut off?)"))
            elif not plan.steps:
                plan.errors.append(PlanSyntaxError(0, completion[:80], "no '(action arg ...)' steps in the completion"))
        return plan


def pddl_text(task: Task, kind: str) -> str:
    """The task's domain or problem file text; rendered from the parsed task when it has no file."""
    path = Path(task.domain.path if kind == "domain" else task.problem.path)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    return render_domain(task) if kind == "domain" else render_problem(task)


def render_domain(task: Task) -> str:
    d = task.domain
    types = "".join(f" {t} - {p}" for t, p in d.supertypes.items())
    consts = "".join(f" {c} - {t}" for c, t in d.constants.items())

    def params(ps):
        return " ".join(f"{v} - {ts[0]}" if len(ts) == 1 else f"{v} - (either {' '.join(ts)})" for v, ts in ps)

    preds = " ".join("(" + " ".join([p] + [f"?a{i} - {ts[0]}" for i, ts in enumerate(args)]) + ")"
                     for p, args in d.predicates.items())
    lines = [f"(define (domain {d.name})", f"  (:requirements {' '.join(d.requirements)})" if d.requirements else "",
             f"  (:types{types})" if types else "", f"  (:constants{consts})" if consts else "",
             f"  (:predicates {preds})"]
    for a in d.actions.values():
        lines += [f"  (:action {a.name}", f"    :parameters ({params(a.parameters)})",
                  f"    :precondition (and {' '.join(map(str, a.precondition))})",
                  f"    :effect (and {' '.join(map(str, a.effect))}))"]
    return "\n".join(x for x in lines if x) + ")"


def render_problem(task: Task) -> str:
    p = task.problem
    objects = " ".join(f"{o} - {t}" for o, t in p.objects.items())
    init = " ".join("(" + " ".join(a) + ")" for a in sorted(p.init))
    goal = " ".join(map(str, p.goal))
    return (f"(define (problem {p.name}) (:domain {p.domain_name})\n  (:objects {objects})\n"
            f"  (:init {init})\n  (:goal (and {goal})))")


def get_format(name: str, tokenizer=None) -> PromptFormat:
    """'compact' (vocabulary checked against `tokenizer` when given) or 'pddl-chat' (needs the tokenizer)."""
    if name == "compact":
        return CompactFormat.for_tokenizer(tokenizer) if tokenizer is not None else CompactFormat()
    if name == "pddl-chat":
        return PddlChatFormat(tokenizer)
    raise ConfigError(f"unknown prompt format {name!r}; expected one of {', '.join(FORMATS)}")
