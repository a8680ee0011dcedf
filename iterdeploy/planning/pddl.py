"""A reader for the PDDL fragment of the IPC 2023 Learning Track.

STRIPS with typing, constants, negative preconditions and equality. Anything
outside that fragment (quantifiers, disjunction, conditional effects, numeric
fluents other than action costs) is rejected with the file and line, never
silently misread. unified-planning's PDDLReader is the reference this reader is
tested against; this one exists because it is two orders of magnitude faster.
"""

from __future__ import annotations

import gc
import os
import stat
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path

from iterdeploy.errors import ConfigError, IterdeployError, PDDLError
from iterdeploy.planning.sexpr import Source, parse_fast, parse_located

ROOT_TYPE = "object"
EQUALITY = "="
_COST_FLUENTS = {"total-cost"}
_UNSUPPORTED = {
    "or": "disjunction",
    "imply": "implication",
    "forall": "universal quantification",
    "exists": "existential quantification",
    "when": "conditional effects",
}


@dataclass(frozen=True)
class Literal:
    """An atom or its negation; arguments are variables (`?x`) or object names."""

    predicate: str
    args: tuple[str, ...]
    positive: bool = True

    def __str__(self) -> str:
        atom = "(" + " ".join((self.predicate,) + self.args) + ")"
        return atom if self.positive else f"(not {atom})"


@dataclass(frozen=True)
class ActionSchema:
    name: str
    parameters: tuple[tuple[str, tuple[str, ...]], ...]
    """(variable, admissible types) pairs; more than one type comes from `either`."""
    precondition: tuple[Literal, ...]
    effect: tuple[Literal, ...]


@dataclass(frozen=True)
class Domain:
    name: str
    path: str
    requirements: tuple[str, ...]
    supertypes: dict[str, str]
    """Each declared type's parent; `object` is the root and has none."""
    constants: dict[str, str]
    predicates: dict[str, tuple[tuple[str, ...], ...]]
    """Predicate name -> admissible types of each argument."""
    actions: dict[str, ActionSchema]

    def type_closure(self, type_name: str) -> frozenset[str]:
        """The type and all its ancestors."""
        seen = [type_name]
        while seen[-1] in self.supertypes:
            parent = self.supertypes[seen[-1]]
            if parent in seen:
                break
            seen.append(parent)
        seen.append(ROOT_TYPE)
        return frozenset(seen)


@dataclass(frozen=True)
class Problem:
    name: str
    path: str
    domain_name: str
    objects: dict[str, str]
    init: frozenset[tuple[str, ...]]
    goal: tuple[Literal, ...]
    extra: dict[str, object] = field(default_factory=dict)


MAX_FILE_BYTES = 64 * 2**20
"""Largest file the planning core reads (domain, problem, plan, batch); `ITERDEPLOY_MAX_FILE_BYTES`
overrides it, and an explicit `max_bytes` (the CLI's --max-file-bytes) overrides both."""


def max_file_bytes(max_bytes: int | None = None) -> int:
    if max_bytes is not None:
        return max_bytes
    env = os.environ.get("ITERDEPLOY_MAX_FILE_BYTES", "").strip()
    if not env:
        return MAX_FILE_BYTES
    if not (env.isascii() and env.isdigit()) or int(env) < 1:
        raise ConfigError(f"ITERDEPLOY_MAX_FILE_BYTES must be a positive number of bytes, not {env[:40]!r}")
    return int(env)


def read_file_bytes(path: str | Path, kind: str, max_bytes: int | None = None,
                    error: type[IterdeployError] = IterdeployError) -> bytes:
    """The bytes of a regular file of at most `max_file_bytes(max_bytes)` bytes, or `error` naming
    the file and why not. `kind` says what the file is for ("domain", "plan", ...)."""
    limit = max_file_bytes(max_bytes)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below like any non-file.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{kind} file not found", path) from None
    except OSError as exc:
        raise error(f"cannot read {kind} file: {exc.strerror or exc}", path) from None
    except (ValueError, UnicodeError):  # a NUL byte or an unencodable character in the name
        raise error(f"cannot read {kind} file: invalid file name", repr(str(path))[1:-1]) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{kind} path is a directory, not a file", path)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{kind} path is not a regular file (a pipe, device or socket is not read)", path)
        if st.st_size > limit:
            raise error(f"{kind} file is {st.st_size:,} bytes, over the limit of {limit:,} "
                        "(ITERDEPLOY_MAX_FILE_BYTES or --max-file-bytes raise it)", path)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(st.st_size + 1)
            if len(data) > st.st_size:  # it grew since fstat: read on, up to the limit
                data += f.read(limit + 1 - len(data))
    except OSError as exc:
        raise error(f"cannot read {kind} file: {exc.strerror or exc}", path) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{kind} file is over the limit of {limit:,} bytes "
                    "(ITERDEPLOY_MAX_FILE_BYTES or --max-file-bytes raise it)", path)
    return data


def read_pddl_bytes(path: str | Path, kind: str, max_bytes: int | None = None) -> bytes:
    """A PDDL file's bytes, or a PDDLError naming the file and why it cannot be read."""
    return read_file_bytes(path, kind, max_bytes, PDDLError)


def _read(path: str | Path, kind: str, max_bytes: int | None = None) -> str:
    return read_pddl_bytes(path, kind, max_bytes).decode("utf-8", errors="replace")


@contextmanager
def paused_gc():
    """Reading builds ~10^5 small objects and no cycles: the cyclic GC would only slow it down (~30%)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(text: str, path: str | Path, kind: str, build, *args):
    """Parse fast; on any error parse again with positions, so the error names its line."""
    src = Source(text, path)
    with paused_gc():
        top = parse_fast(text)
        if top is not None:
            try:
                return build(src, _check_define(src, top, kind), *args)
            except PDDLError:
                pass
        return build(src, _check_define(src, parse_located(src), kind), *args)


def _check_define(src: Source, top: list, kind: str) -> list:
    if len(top) < 2 or top[0] != "define" or not isinstance(top[1], list) or len(top[1]) != 2 or top[1][0] != kind:
        raise src.error(f"not a PDDL {kind}: expected (define ({kind} NAME) ...)", top)
    return top


def _typed_list(src: Source, items: list, what: str, default: str = ROOT_TYPE) -> list[tuple[str, tuple[str, ...]]]:
    """Parse `a b - t c - (either u v) d` into [(a,(t,)), (b,(t,)), (c,(u,v)), (d,(object,))]."""
    out: list[tuple[str, tuple[str, ...]]] = []
    pending: list[str] = []
    i = 0
    while i < len(items):
        item = items[i]
        if item == "-":
            if i + 1 >= len(items):
                raise src.error(f"'-' without a type in {what}", items if isinstance(items, list) else None)
            t = items[i + 1]
            if isinstance(t, list):
                if not t or t[0] != "either" or not all(isinstance(x, str) for x in t[1:]):
                    raise src.error(f"bad type in {what}", t)
                types = tuple(t[1:])
            else:
                types = (t,)
            out.extend((name, types) for name in pending)
            pending = []
            i += 2
            continue
        if isinstance(item, list):
            raise src.error(f"unexpected list in {what}", item)
        pending.append(item)
        i += 1
    out.extend((name, (default,)) for name in pending)
    return out


def _sections(src: Source, top: list) -> dict[str, list]:
    sections: dict[str, list] = {}
    for sec in top[2:]:
        if not isinstance(sec, list) or not sec or not isinstance(sec[0], str):
            raise src.error("expected a (:section ...) list", sec if isinstance(sec, list) else top)
        sections[sec[0]] = sec
    return sections


def _literals(src: Source, node, where: str, allow_cost: bool = False) -> list[tuple[list, bool]]:
    """Flatten a conjunction of literals into (atom node, positive) pairs."""
    if not isinstance(node, list):
        raise src.error(f"expected a list in {where}, found {node!r}")
    if not node:
        return []
    head = node[0]
    if head == "and":
        out: list[tuple[list, bool]] = []
        for sub in node[1:]:
            out.extend(_literals(src, sub, where, allow_cost))
        return out
    if head == "not":
        if len(node) != 2 or not isinstance(node[1], list) or not node[1] or node[1][0] in ("and", "not"):
            raise src.error(f"'not' must wrap a single atom in {where}", node)
        return [(node[1], False)]
    if head in _UNSUPPORTED:
        raise src.error(f"unsupported PDDL feature: {_UNSUPPORTED[head]} ('{head}') in {where}", node)
    if allow_cost and head in ("increase", "decrease", "assign"):
        if len(node) == 3 and isinstance(node[1], list) and node[1] and node[1][0] in _COST_FLUENTS:
            return []
        raise src.error(f"unsupported PDDL feature: numeric effect in {where}", node)
    return [(node, True)]


class _DomainReader:
    def __init__(self, src: Source, top: list):
        self.src = src
        self.sections = _sections(src, top)
        self.name = top[1][1]
        self.supertypes: dict[str, str] = {}
        if ":types" in self.sections:
            for name, types in _typed_list(src, self.sections[":types"][1:], ":types"):
                if len(types) != 1:
                    raise src.error(f"type {name!r} may have only one parent", self.sections[":types"])
                if name != ROOT_TYPE:
                    self.supertypes[name] = types[0]
        self.known_types = {ROOT_TYPE} | set(self.supertypes) | set(self.supertypes.values())
        self.constants = {}
        if ":constants" in self.sections:
            for name, types in _typed_list(src, self.sections[":constants"][1:], ":constants"):
                self._check_types(types, self.sections[":constants"])
                self.constants[name] = types[0]
        self.predicates: dict[str, tuple[tuple[str, ...], ...]] = {}
        for pred in self.sections.get(":predicates", [None])[1:]:
            if not isinstance(pred, list) or not pred or not isinstance(pred[0], str):
                raise src.error("bad predicate declaration", self.sections[":predicates"])
            params = _typed_list(src, pred[1:], f"predicate {pred[0]}")
            for _, types in params:
                self._check_types(types, pred)
            self.predicates[pred[0]] = tuple(t for _, t in params)

    def _check_types(self, types: tuple[str, ...], node) -> None:
        for t in types:
            if t not in self.known_types:
                raise self.src.error(f"unknown type {t!r}", node)

    def action(self, node: list) -> ActionSchema:
        src = self.src
        if len(node) < 2 or not isinstance(node[1], str):
            raise src.error("action without a name", node)
        name = node[1]
        fields: dict[str, object] = {}
        for i in range(2, len(node) - 1, 2):
            fields[node[i]] = node[i + 1]
        if (len(node) - 2) % 2:
            raise src.error(f"action {name}: odd number of items after the name", node)
        unknown = set(fields) - {":parameters", ":precondition", ":effect"}
        if unknown:
            raise src.error(f"action {name}: unsupported field {sorted(unknown)[0]}", node)
        params_node = fields.get(":parameters", [])
        if not isinstance(params_node, list):
            raise src.error(f"action {name}: :parameters must be a list", node)
        params = _typed_list(src, params_node, f"parameters of {name}")
        for var, types in params:
            if not var.startswith("?"):
                raise src.error(f"action {name}: parameter {var!r} must start with '?'", params_node)
            self._check_types(types, params_node)
        variables = {v for v, _ in params}
        pre = self._conjunction(fields.get(":precondition", []), f"precondition of {name}", variables, False)
        eff = self._conjunction(fields.get(":effect", []), f"effect of {name}", variables, True)
        if any(lit.predicate == EQUALITY for lit in eff):
            raise src.error(f"action {name}: equality cannot be an effect", node)
        return ActionSchema(name, tuple(params), tuple(pre), tuple(eff))

    def _conjunction(self, node, where: str, variables: set[str], effect: bool) -> list[Literal]:
        out = []
        for atom, positive in _literals(self.src, node, where, allow_cost=effect):
            pred = atom[0]
            if isinstance(pred, list):
                raise self.src.error(f"expected a predicate name in {where}", atom)
            args = atom[1:]
            for a in args:
                if isinstance(a, list):
                    raise self.src.error(f"nested term in {where}", atom)
                if a.startswith("?") and a not in variables:
                    raise self.src.error(f"undeclared variable {a} in {where}", atom)
                if not a.startswith("?") and a not in self.constants:
                    raise self.src.error(f"unknown constant {a!r} in {where}", atom)
            if pred == EQUALITY:
                if len(args) != 2:
                    raise self.src.error(f"equality takes two arguments in {where}", atom)
            elif pred not in self.predicates:
                raise self.src.error(f"unknown predicate {pred!r} in {where}", atom)
            elif len(args) != len(self.predicates[pred]):
                raise self.src.error(
                    f"predicate {pred} takes {len(self.predicates[pred])} arguments, not {len(args)}, in {where}", atom
                )
            out.append(Literal(pred, tuple(args), positive))
        return out


def read_domain(path: str | Path, max_bytes: int | None = None) -> Domain:
    return _build(_read(path, "domain", max_bytes), path, "domain", _domain_from)


def parse_domain(text: str, path: str | Path = "<domain>") -> Domain:
    return _build(text, path, "domain", _domain_from)


def _domain_from(src: Source, top: list) -> Domain:
    reader = _DomainReader(src, top)
    actions: dict[str, ActionSchema] = {}
    requirements: tuple[str, ...] = ()
    for sec in top[2:]:
        head = sec[0]
        if head == ":action":
            schema = reader.action(sec)
            if schema.name in actions:
                raise src.error(f"action {schema.name} defined twice", sec)
            actions[schema.name] = schema
        elif head == ":requirements":
            requirements = tuple(r for r in sec[1:] if isinstance(r, str))
        elif head in (":durative-action", ":derived"):
            raise src.error(f"unsupported PDDL feature: {head}", sec)
        elif head not in (":types", ":constants", ":predicates", ":functions"):
            raise src.error(f"unknown domain section {head}", sec)
    return Domain(reader.name, src.path, requirements, reader.supertypes, reader.constants,
                  reader.predicates, actions)


def read_problem(path: str | Path, domain: Domain, max_bytes: int | None = None) -> Problem:
    return _build(_read(path, "problem", max_bytes), path, "problem", _problem_from, domain)


def parse_problem(text: str, domain: Domain, path: str | Path = "<problem>") -> Problem:
    return _build(text, path, "problem", _problem_from, domain)


def _problem_from(src: Source, top: list, domain: Domain) -> Problem:
    sections = _sections(src, top)
    dom = sections.get(":domain")
    if dom is None or len(dom) != 2:
        raise src.error("missing (:domain NAME)", top)
    if dom[1] != domain.name:
        raise src.error(f"problem is for domain {dom[1]!r}, not {domain.name!r} ({domain.path})", dom)
    objects = dict(domain.constants)
    if ":objects" in sections:
        for name, types in _typed_list(src, sections[":objects"][1:], ":objects"):
            if len(types) != 1:
                raise src.error(f"object {name!r} needs exactly one type", sections[":objects"])
            if types[0] not in domain.supertypes and types[0] != ROOT_TYPE and types[0] not in domain.supertypes.values():
                raise src.error(f"unknown type {types[0]!r} of object {name!r}", sections[":objects"])
            objects[name] = types[0]

    def ground(atom: list, where: str) -> tuple[str, ...]:
        pred = atom[0]
        if isinstance(pred, list) or any(isinstance(a, list) for a in atom[1:]):
            raise src.error(f"malformed atom in {where}", atom)
        if pred not in domain.predicates:
            raise src.error(f"unknown predicate {pred!r} in {where}", atom)
        if len(atom) - 1 != len(domain.predicates[pred]):
            raise src.error(f"predicate {pred} takes {len(domain.predicates[pred])} arguments, "
                                f"not {len(atom) - 1}, in {where}", atom)
        for a in atom[1:]:
            if a not in objects:
                raise src.error(f"unknown object {a!r} in {where}", atom)
        return tuple(atom)

    init_nodes = sections[":init"][1:] if ":init" in sections else []
    init = _bulk_init(init_nodes, domain, objects)
    if init is None:  # something is wrong, or numeric: go atom by atom
        init = set()
        for atom in init_nodes:
            if not isinstance(atom, list) or not atom:
                raise src.error("malformed atom in :init", sections[":init"])
            if atom[0] == EQUALITY:  # numeric initialisation, e.g. (= (total-cost) 0)
                continue
            if atom[0] == "not":
                raise src.error("negative literal in :init (the initial state is closed-world)", atom)
            init.add(ground(atom, ":init"))
    if ":goal" not in sections or len(sections[":goal"]) != 2:
        raise src.error("missing or malformed (:goal ...)", top)
    goal = []
    for atom, positive in _literals(src, sections[":goal"][1], ":goal"):
        if atom[0] == EQUALITY:
            raise src.error("equality in the goal is not supported", atom)
        goal.append(Literal(atom[0], ground(atom, ":goal")[1:], positive))
    for head in sections:
        if head not in (":domain", ":objects", ":init", ":goal", ":metric", ":requirements"):
            raise src.error(f"unknown problem section {head}", sections[head])
    return Problem(top[1][1], src.path, dom[1], objects, frozenset(init), tuple(goal))


def _bulk_init(nodes: list, domain: Domain, objects: dict[str, str]) -> set[tuple[str, ...]] | None:
    """The initial state, checked with whole-collection operations that run in C (map, zip,
    Counter) rather than a Python loop per atom; None if anything is off, to go atom by atom."""
    if set(map(type, nodes)) - {list}:
        return None
    try:
        atoms = set(map(tuple, nodes))
        heads = list(map(itemgetter(0), atoms))
    except (TypeError, IndexError):  # a nested list where a name should be (or `(= ...)`), or `()`
        return None
    predicates = domain.predicates
    for head, length in set(zip(heads, map(len, atoms))):
        if head not in predicates or length != len(predicates[head]) + 1:
            return None
    # Every name outside the head position must be an object: a name that is not an object
    # may occur only as often as it heads an atom.
    as_head = Counter(heads)
    for name, count in Counter(chain.from_iterable(atoms)).items():
        if name not in objects and count != as_head.get(name, 0):
            return None
    return atoms
