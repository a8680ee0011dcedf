"""A task compiled for checking many plans against it.

States are sets of ground atoms (tuples of lower-case names). Each ground
action a plan uses is compiled once into frozensets (precondition, add, delete)
and cached on the task, so validating the thousandth plan of a task costs a few
set operations per step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from iterdeploy.planning.pddl import EQUALITY, Domain, Problem, parse_domain, parse_problem, read_pddl_bytes
from iterdeploy.planning.text import excerpt

Atom = tuple[str, ...]


def format_atom(atom: Atom) -> str:
    return "(" + " ".join(atom) + ")"


@dataclass(frozen=True)
class GroundAction:
    name: str
    args: tuple[str, ...]
    pre_pos: frozenset[Atom]
    pre_neg: frozenset[Atom]
    unequal: tuple[tuple[str, str], ...]
    """Pairs that must differ (`(not (= a b))`), or, via `equal`, be the same."""
    equal: tuple[tuple[str, str], ...]
    add: frozenset[Atom]
    delete: frozenset[Atom]

    def __str__(self) -> str:
        return format_atom((self.name,) + self.args)


@dataclass(frozen=True)
class GroundingError:
    """Why an (action, args) pair is not an action of the task."""

    kind: str  # unknown_action | wrong_arity | unknown_object | type_mismatch
    message: str


class _CompiledSchema:
    """An action schema compiled for grounding: `build(args + constants)` returns its
    (pre_pos, pre_neg, add, delete) atom sets.

    `build` is generated Python, one tuple display per literal, because grounding runs
    once per distinct step of every plan and a generic loop over literals is 5x slower.
    Only predicate names (as repr() literals) and integer indices go into the code.
    """

    __slots__ = ("name", "param_types", "eq", "build")

    def __init__(self, schema, constants: tuple[str, ...]):
        variables = {var: i for i, (var, _) in enumerate(schema.parameters)}
        slot = {c: len(variables) + i for i, c in enumerate(constants)}

        def refs(lit):
            return (lit.predicate, tuple(variables[a] if a in variables else slot[a] for a in lit.args))

        def atoms(literals) -> str:
            items = "".join("(" + ", ".join([repr(pred)] + [f"b[{i}]" for i in idx]) + ",), "
                            for pred, idx in map(refs, literals))
            return f"frozenset(({items}))" if items else "EMPTY"

        self.name = schema.name
        self.param_types = tuple(frozenset(types) for _, types in schema.parameters)
        self.eq = [(refs(lit)[1], lit.positive) for lit in schema.precondition if lit.predicate == EQUALITY]
        pre = [lit for lit in schema.precondition if lit.predicate != EQUALITY]
        code = ", ".join([
            atoms(lit for lit in pre if lit.positive), atoms(lit for lit in pre if not lit.positive),
            atoms(lit for lit in schema.effect if lit.positive), atoms(lit for lit in schema.effect if not lit.positive),
        ])
        self.build = eval(f"lambda b: ({code})", {"frozenset": frozenset, "EMPTY": frozenset()})


_schema_cache: dict[int, tuple[Domain, dict[str, _CompiledSchema]]] = {}


def _compiled_schemas(domain: Domain) -> dict[str, _CompiledSchema]:
    """The domain's compiled schemas, shared by all its tasks (compiling costs ~0.1 ms per action).
    Keyed by identity; the entry keeps the domain alive, so an id is never reused while cached."""
    hit = _schema_cache.get(id(domain))
    if hit is not None and hit[0] is domain:
        return hit[1]
    if len(_schema_cache) >= 64:  # domains read from text one by one (tests) must not pile up
        del _schema_cache[next(iter(_schema_cache))]
    constants = tuple(domain.constants)
    schemas = {name: _CompiledSchema(s, constants) for name, s in domain.actions.items()}
    _schema_cache[id(domain)] = (domain, schemas)
    return schemas


class Task:
    """A planning task: objects with their types, compiled actions, initial state and goal."""

    def __init__(self, domain: Domain, problem: Problem):
        self.domain = domain
        self.problem = problem
        self.name = problem.name
        self.domain_name = domain.name
        closures: dict[str, frozenset[str]] = {}
        self.object_types: dict[str, frozenset[str]] = {}
        for obj, t in problem.objects.items():
            if t not in closures:
                closures[t] = domain.type_closure(t)
            self.object_types[obj] = closures[t]
        self._constants = tuple(domain.constants)
        self._schemas = _compiled_schemas(domain)
        self.init: frozenset[Atom] = problem.init
        self.goal_pos: frozenset[Atom] = frozenset((g.predicate,) + g.args for g in problem.goal if g.positive)
        self.goal_neg: frozenset[Atom] = frozenset((g.predicate,) + g.args for g in problem.goal if not g.positive)
        self._ground: dict[tuple[str, tuple[str, ...]], GroundAction | GroundingError] = {}
        self._ground_text: dict[str, GroundAction | GroundingError] = {}

    def __getstate__(self) -> dict:
        """Pickle without the compiled schemas (generated code) and the grounding caches."""
        state = dict(self.__dict__)
        for key in ("_schemas", "_ground", "_ground_text"):
            del state[key]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._schemas = _compiled_schemas(self.domain)
        self._ground, self._ground_text = {}, {}

    @property
    def objects(self) -> list[str]:
        return list(self.problem.objects)

    @property
    def action_names(self) -> list[str]:
        return list(self._schemas)

    def parameter_types(self, action: str) -> tuple[frozenset[str], ...]:
        """The admissible types of each parameter of `action` (KeyError if there is no such action)."""
        return self._schemas[action].param_types

    def objects_of(self, types: frozenset[str]) -> list[str]:
        """Objects (constants included) that may fill a parameter admitting `types`."""
        return [obj for obj, closure in self.object_types.items() if not closure.isdisjoint(types)]

    def ground(self, name: str, args: tuple[str, ...]) -> GroundAction | GroundingError:
        """The ground action `(name args...)`, or why there is none. Cached."""
        key = (name, args)
        hit = self._ground.get(key)
        if hit is None:
            hit = self._ground[key] = self._compile(name, args)
        return hit

    def ground_text(self, body: str) -> GroundAction | GroundingError:
        """`ground` for the text inside an action's parentheses, e.g. 'Pickup  b1'. Cached by that text."""
        hit = self._ground_text.get(body)
        if hit is None:
            words = body.lower().split()
            if not words:
                return GroundingError("unknown_action", "empty action '()'")
            hit = self._ground_text[body] = self.ground(words[0], tuple(words[1:]))
        return hit

    def _compile(self, name: str, args: tuple[str, ...]) -> GroundAction | GroundingError:
        schema = self._schemas.get(name)
        if schema is None:
            return GroundingError("unknown_action", f"unknown action {excerpt(name)}")
        if len(args) != len(schema.param_types):
            return GroundingError(
                "wrong_arity", f"action {name} takes {len(schema.param_types)} arguments, not {len(args)}"
            )
        for i, (arg, admissible) in enumerate(zip(args, schema.param_types)):
            types = self.object_types.get(arg)
            if types is None:
                return GroundingError("unknown_object", f"unknown object {excerpt(arg)} (argument {i + 1} of {name})")
            if types.isdisjoint(admissible):
                want = "|".join(sorted(admissible))
                return GroundingError(
                    "type_mismatch",
                    f"argument {i + 1} of {name} must be of type {want}, {arg!r} is {self.problem.objects[arg]!r}",
                )
        binding = args + self._constants
        pre_pos, pre_neg, add, delete = schema.build(binding)
        equal, unequal = [], []
        for (i, j), positive in schema.eq:
            (equal if positive else unequal).append((binding[i], binding[j]))
        return GroundAction(name, args, pre_pos, pre_neg, tuple(unequal), tuple(equal), add, delete)


_domains: dict[tuple[str, str], Domain] = {}


def load_task(domain_path: str | Path, problem_path: str | Path, max_bytes: int | None = None) -> Task:
    """Read and compile a task. Domains are cached in memory by path and content, so a batch
    reads each once. For an on-disk cache of whole tasks see `taskcache.load_cached`."""
    domain_bytes = read_pddl_bytes(domain_path, "domain", max_bytes)
    key = (str(domain_path), hashlib.sha256(domain_bytes).hexdigest())
    domain = _domains.get(key)
    if domain is None:
        domain = _domains[key] = parse_domain(domain_bytes.decode("utf-8", errors="replace"), domain_path)
    problem_text = read_pddl_bytes(problem_path, "problem", max_bytes).decode("utf-8", errors="replace")
    return Task(domain, parse_problem(problem_text, domain, problem_path))


def task_from_text(domain_text: str, problem_text: str) -> Task:
    domain = parse_domain(domain_text)
    return Task(domain, parse_problem(problem_text, domain))
