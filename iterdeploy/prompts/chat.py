"""The `pddl-chat` prompt format, for instruction-tuned models (e.g. Qwen3, SmolLM2).

The domain and problem PDDL inside the model's own chat template, with a short instruction.
A reasoning section (`<think>...</think>`) stays in the completion; the plan parser skips it.
"""

from __future__ import annotations

from pathlib import Path

from iterdeploy.errors import ConfigError
from iterdeploy.planning import ParsedPlan, Task, parse_plan
from iterdeploy.planning.plan import PlanSyntaxError
from iterdeploy.prompts.compact import steps_from_strings


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
        plan = "".join(f"{s}\n" for s in steps_from_strings(plan_steps))
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
