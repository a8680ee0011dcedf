"""The `compact` prompt format of the embedded word-level model.

The task's initial state and goal as a token stream, then the plan, e.g.

    blocksworld init arm-empty clear object3 on object3 object1 on-table object1 ... goal on-table object1
    goal on object3 object1 ... plan unstack object3 object1 ; putdown object3 ; ... end

Objects are renamed to generic tokens drawn by a seeded random choice from one pool
`object1 .. objectN` (whatever their type), so the model cannot memorise names, every
object token is trained by every domain even when training tasks are small, and
`plan_from_completion` maps the plan back to the task's real names. Atoms are listed along their chains (`atom_order`): a tower top-down,
a corridor from its start, so each fact a plan step needs sits next to the one before.
The format owns its structural words; the embedded tokenizer's vocabulary is built from them.
"""

from __future__ import annotations

import hashlib
import random
import re

from iterdeploy.errors import ConfigError
from iterdeploy.planning import ParsedPlan, Step, Task, parse_plan
from iterdeploy.planning.plan import PlanSyntaxError
from iterdeploy.prompts.atom_order import Atom, object_ranks, ordered_atoms

INIT, GOAL, PLAN, SEP, END, NOT = "init", "goal", "plan", ";", "end", "not"
STRUCTURAL = (INIT, GOAL, PLAN, SEP, END, NOT)
"""The format's own words, beside the domain's names and the object tokens."""
ROOT_TYPE = "object"


def object_token(index: int) -> str:
    """The `index`-th generic object name (1-based), e.g. 'object3'."""
    return f"{ROOT_TYPE}{index}"


_ROOT_OBJECT = re.compile(rf"{ROOT_TYPE}(\d+)\Z")


def vocab_max_objects(vocabulary) -> int | None:
    """N of a word-level vocabulary with object tokens (largest `object<N>`), or None for other vocabularies."""
    found = [int(m.group(1)) for w in vocabulary if (m := _ROOT_OBJECT.match(w))]
    return max(found) if found else None


def _token_key(token: str) -> tuple[str, int]:
    """'car12' -> ('car', 12): generic names sort by number, not as text."""
    stem = token.rstrip("0123456789")
    return stem, int(token[len(stem):] or 0)


def steps_from_strings(plan_steps: list[str]) -> list[Step]:
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
        vocabulary = tokenizer.get_vocab()
        n = vocab_max_objects(vocabulary)
        if n is None:
            raise ConfigError("format 'compact' needs the word-level tokenizer of an embedded model "
                              "(no object tokens in this vocabulary); use 'pddl-chat' for chat models")
        return cls(n, set(vocabulary))

    def names(self, task: Task, seed: int) -> dict[str, str]:
        """Real object name -> generic name, all drawn from one pool `object1 .. objectN` whatever the type (so
        every name is trained by every domain). Seeded by `seed` and the task's content, stable across calls."""
        key = f"{seed}\0{task.name}\0" + "\0".join(f"{o}:{t}" for o, t in sorted(task.problem.objects.items()))
        rng = random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))
        objs = sorted(task.problem.objects, key=lambda o: (task.problem.objects[o], o))
        if len(objs) > self.max_objects:
            raise ConfigError(f"task {task.name} has {len(objs)} objects; format 'compact' has names for "
                              f"{self.max_objects} (the model's max_objects)")
        return {obj: object_token(i) for obj, i in zip(objs, rng.sample(range(1, self.max_objects + 1),
                                                                                  len(objs)))}

    def ordered_state(self, task: Task, seed: int) -> tuple[list[Atom], list[Atom]]:
        """(initial state, goal) atoms in the order the prompt lists them, in real names: what a plan
        written in the prompt's own order (the naive reference plans of the pre-training stream) follows."""
        names = self.names(task, seed)
        objects = list(task.problem.objects) + list(task.domain.constants)
        types = {**task.domain.constants, **task.problem.objects}

        def key(obj: str) -> tuple[str, int]:  # the type (never shown) and the generic number, not the real name
            return types.get(obj, ""), _token_key(names.get(obj, obj))[1]

        goal = sorted(task.goal_pos) + sorted(task.goal_neg)
        init_rank = object_ranks(task.domain, task.init, objects, key)
        goal_rank = object_ranks(task.domain, goal, objects, key, backwards=True)
        return ordered_atoms(task.domain, task.init, init_rank), ordered_atoms(task.domain, goal, goal_rank)

    def prompt(self, task: Task, seed: int) -> str:
        names = self.names(task, seed)
        init, goal = self.ordered_state(task, seed)
        negative = set(task.goal_neg)
        words = [task.domain_name, INIT]
        for atom in init:
            words += [atom[0]] + [names.get(a, a) for a in atom[1:]]
        # Every goal fact carries its own marker: a fact of the initial state and one of the goal may read alike
        # (ferry: `at car3 loc1`, `at car3 loc4`), and the plan must never copy the one for the other.
        for atom in goal:
            words += [GOAL] + ([NOT] if atom in negative else []) + [atom[0]] + [names.get(a, a) for a in atom[1:]]
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
        for step in steps_from_strings(plan_steps):
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


