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
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from iterdeploy.errors import ConfigError, IterdeployError, PDDLError
from iterdeploy.planning.sexpr import SList, Source, parse_fast, parse_located
from iterdeploy.planning.text import excerpt

ROOT_TYPE = "object"
EQUALITY = "="
_NUMBER = re.compile(r"\d+(\.\d+)?\Z")
_UNSUPPORTED = {
    "or": "disjunction",
    "imply": "implication",
    "forall": "universal quantification",
    "exists": "existential quantification",
    "when": "conditional effects",
}
_UNSUPPORTED_SECTIONS = {":durative-action", ":derived", ":constraints", ":process", ":event"}
_DOMAIN_SECTIONS = {":requirements", ":types", ":constants", ":predicates", ":functions", ":action"}
_PROBLEM_SECTIONS = {":domain", ":requirements", ":objects", ":init", ":goal", ":metric"}
_REQUIREMENTS = frozenset(
    ":strips :typing :negative-preconditions :disjunctive-preconditions :equality :existential-preconditions "
    ":universal-preconditions :quantified-preconditions :conditional-effects :fluents :numeric-fluents "
    ":object-fluents :adl :durative-actions :duration-inequalities :continuous-effects :derived-predicates "
    ":timed-initial-literals :timed-initial-effects :preferences :constraints :action-costs :time "
    ":hierarchy :method-preconditions :contingent".split())
"""PDDL 3.1's requirement keywords and unified-planning's extensions; anything else is a typo."""
# Names as VAL's lexer reads them (already lower-cased); keywords of the grammar are not names.
_NAME = re.compile(r"[a-z][a-z0-9_\-]*\Z")
_NAMES = re.compile(r"(?:[a-z][a-z0-9_\-]*+(?: |\Z))*+")
_VARIABLES = re.compile(r"(?:\?[a-z][a-z0-9_\-]*+(?: |\Z))*+")
_KEYWORDS = frozenset("and or not imply forall exists when either define domain problem number".split())
_VARIABLE = re.compile(r"\?[a-z][a-z0-9_\-]*\Z")


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
    functions: tuple[str, ...] = ()
    """Numeric functions from :functions, such as total-cost: only initialised and increased."""

    def type_closure(self, type_name: str) -> frozenset[str]:
        """The type and all its ancestors."""
        return type_closure(self.supertypes, type_name)


def type_closure(supertypes: dict[str, str], type_name: str) -> frozenset[str]:
    """The type and all its ancestors. A parent that is not declared itself (`animal` in
    `(:types cat - animal)`) is a root beside `object`, as VAL and unified-planning read it:
    a cat is then not an `object`, and an untyped parameter does not take one."""
    seen = [type_name]
    while seen[-1] in supertypes:
        parent = supertypes[seen[-1]]
        if parent in seen:  # a cycle: refused when reading, but a Domain can be built by hand
            break
        seen.append(parent)
    if seen[-1] == ROOT_TYPE or seen[-1] in supertypes:
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
        top = parse_fast(src.text)
        if top is not None:
            try:
                return build(src, _check_define(src, top, kind), *args)
            except PDDLError:
                pass
        return build(src, _check_define(src, parse_located(src), kind), *args)


def _check_define(src: Source, top: list, kind: str) -> list:
    if len(top) < 2 or top[0] != "define" or not isinstance(top[1], list) or len(top[1]) != 2 or top[1][0] != kind:
        raise src.error(f"not a PDDL {kind}: expected (define ({kind} NAME) ...)", top)
    _check_name(src, top[1][1], f"{kind} name", top)
    return top


def _check_name(src: Source, name, what: str, node, variable: bool = False) -> None:
    """A name as VAL's lexer reads one: a letter, then letters, digits, '-' and '_' (a variable: '?' first)."""
    if isinstance(name, list):
        raise src.error(f"expected a name as the {what}, found a list", name)
    if not (_VARIABLE if variable else _NAME).match(name) or name in _KEYWORDS:
        want = "a variable such as ?x" if variable else "a name (a letter, then letters, digits, '-' or '_')"
        if name in _KEYWORDS:
            want = "a name: it is a PDDL keyword"
        raise src.error(f"{excerpt(name)} is not {want}, as the {what}", node)


def _typed_list(src: Source, node: list, start: int, what: str, variables: bool = False,
                default: str = ROOT_TYPE) -> list[tuple[str, tuple[str, ...]]]:
    """Parse node[start:], e.g. `a b - t c - (either u v) d`, into [(a,(t,)), (b,(t,)), (c,(u,v)),
    (d,(object,))]. Names (or variables) are checked, and none may be declared twice."""
    out: list[tuple[str, tuple[str, ...]]] = []
    names: list[str] = []
    typed = 0  # names[:typed] have their type
    i, end = start, len(node)
    while i < end:
        item = node[i]
        if item == "-":
            if i + 1 >= end or typed == len(names):
                raise src.error(f"'-' without {'a type' if typed < len(names) else 'names before it'} in {what}",
                                node)
            t = node[i + 1]
            if isinstance(t, list):
                if len(t) < 2 or t[0] != "either" or not all(isinstance(x, str) for x in t[1:]):
                    raise src.error(f"bad type in {what}: expected a type name or (either TYPE ...)", t)
                types = tuple(t[1:])
            else:
                types = (t,)
            if len(types) > 1 or not _NAME.match(types[0]) or types[0] in _KEYWORDS:
                for type_name in types:
                    _check_name(src, type_name, f"type in {what}", node)
            out.extend(zip(names[typed:], repeat(types)))
            typed = len(names)
            i += 2
        elif isinstance(item, list):
            raise src.error(f"unexpected list in {what}", item)
        else:
            names.append(item)
            i += 1
    out.extend(zip(names[typed:], repeat((default,))))
    _check_names(src, names, what, node, variables)
    return out


def _check_names(src: Source, names: list[str], what: str, node, variables: bool) -> None:
    """All of `names` valid and distinct: checked with one match over them all (objects can number
    thousands); the culprit is looked for only when something is wrong."""
    ok = (_VARIABLES if variables else _NAMES).fullmatch(" ".join(names)) is not None
    if ok and len(set(names)) == len(names) and (variables or _KEYWORDS.isdisjoint(names)):
        return
    seen: set[str] = set()
    for name in names:
        _check_name(src, name, f"{'parameter' if variables else 'name'} in {what}", node, variables)
        if name in seen:
            raise src.error(f"{name} is declared twice in {what}", node)
        seen.add(name)


def _sections(src: Source, top: list, kind: str, allowed: set[str], repeatable: set[str] = frozenset()) -> dict:
    """The (:name ...) sections under (define ...), by name: each once, except those in `repeatable`
    (VAL and unified-planning disagree on a second (:init ...); here it is an error, not a merge)."""
    sections: dict[str, list] = {}
    for sec in top[2:]:
        if not isinstance(sec, list) or not sec or not isinstance(sec[0], str) or not sec[0].startswith(":"):
            raise src.error("expected a (:section ...) list", sec if isinstance(sec, list) else top)
        name = sec[0]
        if name in _UNSUPPORTED_SECTIONS:
            raise src.error(f"unsupported PDDL feature: {name}", sec)
        if name not in allowed:
            raise src.error(f"unknown {kind} section {excerpt(name)}", sec)
        if name in sections and name not in repeatable:
            first = sections[name]
            where = f" (the first is on line {src.line_of(first.pos)})" if isinstance(first, SList) else ""
            raise src.error(f"a second {name} section{where}", sec)
        sections[name] = sec
    return sections


def _check_requirements(src: Source, section: list | None) -> tuple[str, ...]:
    if section is None:
        return ()
    for r in section[1:]:
        if isinstance(r, list) or r not in _REQUIREMENTS:
            shown = "a list" if isinstance(r, list) else excerpt(r)
            raise src.error(f"unknown requirement {shown} (PDDL requirements are keywords such as :strips, "
                            ":typing)", section)
    return tuple(section[1:])


def _literals(src: Source, node, where: str, parent: list, effect: bool = False,
              functions: tuple[str, ...] = ()) -> list[tuple[list, bool]]:
    """Flatten a conjunction of literals into (atom node, positive) pairs, in order. Iterative: a
    goal nested MAX_DEPTH deep must not reach Python's recursion limit. An effect is one
    (and ...) of literals (and `(increase (FUNCTION) N)`), as PDDL's grammar has it: VAL refuses
    an `and` inside an effect's `and`."""
    out: list[tuple[list, bool]] = []
    todo = [(node, parent)]
    top = node
    while todo:
        node, parent = todo.pop()
        if not isinstance(node, list):
            raise src.error(f"expected a list in {where}, found {excerpt(node)}", parent)
        if not node:
            continue
        head = node[0]
        if not isinstance(head, str):
            raise src.error(f"expected a predicate name, 'and' or 'not' in {where}, found a list", node)
        if head == "and":
            if effect and node is not top:
                raise src.error(f"an 'and' inside an 'and' in {where} (PDDL effects are one (and ...) of "
                                "literals)", node)
            todo.extend(zip(node[:0:-1], repeat(node)))  # the children, last first: popped in order
        elif head == "not":
            atom = node[1] if len(node) == 2 else None
            if not isinstance(atom, list) or not atom or not isinstance(atom[0], str) or atom[0] in ("and", "not"):
                raise src.error(f"'not' must wrap a single atom in {where}", node)
            if atom[0] in _UNSUPPORTED:
                raise src.error(f"unsupported PDDL feature: {_UNSUPPORTED[atom[0]]} ('{atom[0]}') in {where}", atom)
            out.append((atom, False))
        elif head in _UNSUPPORTED:
            raise src.error(f"unsupported PDDL feature: {_UNSUPPORTED[head]} ('{head}') in {where}", node)
        elif effect and head in ("increase", "decrease", "assign"):
            if not (head == "increase" and len(node) == 3 and isinstance(node[1], list) and len(node[1]) == 1
                    and node[1][0] in functions and _is_number(node[2])):
                raise src.error(f"unsupported PDDL feature: numeric effect in {where} (only (increase (FUNCTION) "
                                "N) of a function declared in :functions)", node)
        else:
            out.append((node, True))
    return out


class _DomainReader:
    def __init__(self, src: Source, top: list):
        self.src = src
        self.sections = sections = _sections(src, top, "domain", _DOMAIN_SECTIONS, {":action"})
        self.name = top[1][1]
        self.requirements = _check_requirements(src, sections.get(":requirements"))
        self.supertypes = self._types(sections.get(":types"))
        self.known_types = {ROOT_TYPE} | set(self.supertypes) | set(self.supertypes.values())
        self.closures = {t: type_closure(self.supertypes, t) for t in self.known_types}
        self.constants: dict[str, str] = {}
        if ":constants" in sections:
            node = sections[":constants"]
            for name, types in _typed_list(src, node, 1, ":constants"):
                if len(types) != 1:
                    raise src.error(f"constant {name} needs exactly one type", node)
                if name in self.known_types:  # VAL's type checker refuses it
                    raise src.error(f"constant {name} has the name of a type", node)
                self._check_types(types, node)
                self.constants[name] = types[0]
        self.constant_closures = {c: [(t, self.closures[t])] for c, t in self.constants.items()}
        self.functions = self._functions(sections.get(":functions"))
        self.predicates: dict[str, tuple[tuple[str, ...], ...]] = {}
        for pred in sections.get(":predicates", [None])[1:]:
            if not isinstance(pred, list) or not pred:
                raise src.error("bad predicate declaration: expected (NAME ?x ...)", sections[":predicates"])
            _check_name(src, pred[0], "predicate name", pred)
            if pred[0] in self.predicates or pred[0] == EQUALITY:
                raise src.error(f"predicate {pred[0]} is declared twice", pred)
            params = _typed_list(src, pred, 1, f"predicate {pred[0]}", variables=True)
            for _, types in params:
                self._check_types(types, pred)
            self.predicates[pred[0]] = tuple(t for _, t in params)

    def _functions(self, node: list | None) -> tuple[str, ...]:
        """Names from `(:functions (total-cost) - number ...)`; only argument-free numeric ones."""
        if node is None:
            return ()
        names: list[str] = []
        i = 1
        while i < len(node):
            item = node[i]
            if not isinstance(item, list) or len(item) != 1:
                raise self.src.error("unsupported :functions declaration: only (NAME) - number", node)
            _check_name(self.src, item[0], "function name", node)
            if item[0] in names:
                raise self.src.error(f"function {item[0]} is declared twice", node)
            names.append(item[0])
            i += 1
            if i < len(node) and node[i] == "-":
                if i + 1 >= len(node) or node[i + 1] != "number":
                    raise self.src.error("unsupported :functions declaration: only (NAME) - number", node)
                i += 2
        return tuple(names)

    def _types(self, node: list | None) -> dict[str, str]:
        """Each declared type's parent; no type may be its own ancestor. A parent need not be declared
        itself (`(:types cat dog - animal)`: VAL and unified-planning accept that too)."""
        supertypes: dict[str, str] = {}
        if node is None:
            return supertypes
        for name, types in _typed_list(self.src, node, 1, ":types"):
            if len(types) != 1:
                raise self.src.error(f"type {name} may have only one parent", node)
            if name == ROOT_TYPE and types[0] == ROOT_TYPE:
                raise self.src.error("object is the root type: it is not declared in :types", node)
            if name != ROOT_TYPE:
                supertypes[name] = types[0]
        for name in supertypes:
            chain_ = [name]
            while chain_[-1] in supertypes:
                parent = supertypes[chain_[-1]]
                if parent in chain_:
                    cycle = " - ".join(chain_[chain_.index(parent):] + [parent])
                    raise self.src.error(f"types form a cycle: {cycle}", node)
                chain_.append(parent)
        return supertypes

    def _check_types(self, types: tuple[str, ...], node) -> None:
        for t in types:
            if t not in self.known_types:
                raise self.src.error(f"unknown type {excerpt(t)}", node)

    def action(self, node: list) -> ActionSchema:
        src = self.src
        if len(node) < 2 or not isinstance(node[1], str):
            raise src.error("action without a name", node)
        name = node[1]
        _check_name(src, name, "action name", node)
        if (len(node) - 2) % 2:
            raise src.error(f"action {name}: expected :parameters, :precondition and :effect, each with a value",
                            node)
        fields: dict[str, object] = {}
        for i in range(2, len(node), 2):
            key = node[i]
            if isinstance(key, list) or key not in (":parameters", ":precondition", ":effect"):
                shown = "a list" if isinstance(key, list) else excerpt(key)
                raise src.error(f"action {name}: expected :parameters, :precondition or :effect, found {shown}",
                                key if isinstance(key, list) else node)
            if key in fields:
                raise src.error(f"action {name}: {key} given twice", node)
            fields[key] = node[i + 1]
        params_node = fields.get(":parameters", [])
        if not isinstance(params_node, list):
            raise src.error(f"action {name}: :parameters must be a list", node)
        params = _typed_list(src, params_node, 0, f"parameters of {name}", variables=True)
        for _, types in params:
            self._check_types(types, params_node)
        # Each name an argument may be (a parameter, a constant) -> (type, closure) of each type it may have.
        scope = dict(self.constant_closures)
        scope.update((v, [(t, self.closures[t]) for t in types]) for v, types in params)
        pre = self._conjunction(fields.get(":precondition", []), f"precondition of {name}", node, scope, False)
        eff = self._conjunction(fields.get(":effect", []), f"effect of {name}", node, scope, True)
        if any(lit.predicate == EQUALITY for lit in eff):
            raise src.error(f"action {name}: equality cannot be an effect", node)
        return ActionSchema(name, tuple(params), tuple(pre), tuple(eff))

    def _conjunction(self, node, where: str, parent: list, scope: dict, effect: bool) -> list[Literal]:
        # An argument's type (every alternative of an `either`) must be one the predicate admits, or
        # a subtype of one: VAL and unified-planning refuse the domain otherwise.
        predicates = self.predicates
        out = []
        for atom, positive in _literals(self.src, node, where, parent, effect, self.functions):
            pred = atom[0]
            args = atom[1:]
            signature = predicates.get(pred)
            if signature is None and pred != EQUALITY:
                raise self.src.error(f"unknown predicate {excerpt(pred)} in {where}", atom)
            if len(args) != (2 if signature is None else len(signature)):
                what = "equality" if signature is None else f"predicate {pred}"
                raise self.src.error(f"{what} takes {2 if signature is None else len(signature)} arguments, "
                                     f"not {len(args)}, in {where}", atom)
            for i, a in enumerate(args):
                closures = scope.get(a) if isinstance(a, str) else None
                if closures is None:
                    if isinstance(a, list):
                        raise self.src.error(f"nested term in {where}", atom)
                    unknown = "undeclared variable" if a.startswith("?") else "unknown constant"
                    raise self.src.error(f"{unknown} {excerpt(a)} in {where}", atom)
                if signature is not None:
                    for t, closure in closures:
                        if closure.isdisjoint(signature[i]):
                            raise self.src.error(f"argument {i + 1} of {pred} must be of type "
                                                 f"{'|'.join(signature[i])}, {a} is {t}, in {where}", atom)
            out.append(Literal(pred, tuple(args), positive))
        return out


def read_domain(path: str | Path, max_bytes: int | None = None) -> Domain:
    return _build(_read(path, "domain", max_bytes), path, "domain", _domain_from)


def parse_domain(text: str, path: str | Path = "<domain>") -> Domain:
    return _build(text, path, "domain", _domain_from)


def _domain_from(src: Source, top: list) -> Domain:
    reader = _DomainReader(src, top)
    actions: dict[str, ActionSchema] = {}
    for sec in top[2:]:
        if sec[0] == ":action":
            schema = reader.action(sec)
            if schema.name in actions:
                raise src.error(f"action {schema.name} defined twice", sec)
            actions[schema.name] = schema
    return Domain(reader.name, src.path, reader.requirements, reader.supertypes, reader.constants,
                  reader.predicates, actions, reader.functions)


def read_problem(path: str | Path, domain: Domain, max_bytes: int | None = None) -> Problem:
    return _build(_read(path, "problem", max_bytes), path, "problem", _problem_from, domain)


def parse_problem(text: str, domain: Domain, path: str | Path = "<problem>") -> Problem:
    return _build(text, path, "problem", _problem_from, domain)


def _problem_from(src: Source, top: list, domain: Domain) -> Problem:
    # Errors about what the domain declares name the domain file: when the two disagree, either may be wrong.
    sections = _sections(src, top, "problem", _PROBLEM_SECTIONS)
    dom = sections.get(":domain")
    if dom is None or len(dom) != 2 or not isinstance(dom[1], str):
        raise src.error("missing (:domain NAME)", top if dom is None else dom)
    if dom[1] != domain.name:
        raise src.error(f"problem is for domain {excerpt(dom[1])}, but {domain.path} defines domain "
                        f"{domain.name!r}", dom)
    _check_requirements(src, sections.get(":requirements"))
    objects = dict(domain.constants)
    if ":objects" in sections:
        node = sections[":objects"]
        for name, types in _typed_list(src, node, 1, ":objects"):
            if len(types) != 1:
                raise src.error(f"object {name} needs exactly one type", node)
            if name in domain.constants:
                raise src.error(f"object {name} is also a constant of the domain ({domain.path})", node)
            known = types[0] == ROOT_TYPE or types[0] in domain.supertypes or types[0] in domain.supertypes.values()
            if not known:
                raise src.error(f"unknown type {excerpt(types[0])} of object {name} (not a type of {domain.path})",
                                node)
            objects[name] = types[0]
    typing = _Typing(domain, objects)

    def ground(atom: list, where: str) -> tuple[str, ...]:
        pred = atom[0]
        if isinstance(pred, list) or any(isinstance(a, list) for a in atom[1:]):
            raise src.error(f"malformed atom in {where}", atom)
        signature = domain.predicates.get(pred)
        if signature is None:
            raise src.error(f"unknown predicate {excerpt(pred)} in {where} (not a predicate of {domain.path})",
                            atom)
        if len(atom) - 1 != len(signature):
            raise src.error(f"predicate {pred} takes {len(signature)} arguments in {domain.path}, "
                            f"not {len(atom) - 1}, in {where}", atom)
        for i, (a, types) in enumerate(zip(atom[1:], signature), start=1):
            if a not in objects:
                raise src.error(f"unknown object {excerpt(a)} in {where} (neither an object nor a constant "
                                f"of {domain.path})", atom)
            if a not in typing.admissible(types):
                raise src.error(f"argument {i} of {pred} must be of type {'|'.join(types)} ({domain.path}), "
                                f"{a} is {objects[a]}, in {where}", atom)
        return tuple(atom)

    init_node = sections.get(":init")
    init_nodes = init_node[1:] if init_node is not None else []
    init = _bulk_init(init_nodes, domain.predicates, typing)
    if init is None:  # something is wrong, or numeric: go atom by atom
        init = set()
        for atom in init_nodes:
            if not isinstance(atom, list) or not atom:
                raise src.error("malformed atom in :init", atom if isinstance(atom, list) else init_node)
            if atom[0] == EQUALITY:
                _check_numeric_init(src, atom, domain)
                continue
            if atom[0] == "not":
                raise src.error("negative literal in :init (the initial state is closed-world)", atom)
            init.add(ground(atom, ":init"))
    goal_node = sections.get(":goal")
    if goal_node is None or len(goal_node) != 2:
        raise src.error("missing or malformed (:goal ...)", top if goal_node is None else goal_node)
    goal = []
    for atom, positive in _literals(src, goal_node[1], ":goal", goal_node):
        if atom[0] == EQUALITY:
            raise src.error("equality in the goal is not supported", atom)
        goal.append(Literal(atom[0], ground(atom, ":goal")[1:], positive))
    return Problem(top[1][1], src.path, dom[1], objects, frozenset(init), tuple(goal))


def _is_number(text) -> bool:
    return isinstance(text, str) and _NUMBER.match(text) is not None


def _check_numeric_init(src: Source, atom: list, domain: Domain) -> None:
    """`(= (total-cost) 0)`: a function of the domain and a number; ignored (costs are not checked)."""
    if not (len(atom) == 3 and isinstance(atom[1], list) and len(atom[1]) == 1 and _is_number(atom[2])):
        raise src.error("malformed numeric initialisation in :init: expected (= (FUNCTION) NUMBER)", atom)
    if atom[1][0] not in domain.functions:
        raise src.error(f"{excerpt(atom[1][0])} in :init is not a function of {domain.path} (its :functions)", atom)


class _Typing:
    """Which objects (constants included) may fill an argument that admits given types."""

    def __init__(self, domain: Domain, objects: dict[str, str]):
        of_type: dict[str, list[str]] = {}
        for name, t in objects.items():
            of_type.setdefault(t, []).append(name)
        self.by_type: dict[str, set[str]] = {}
        for t, names in of_type.items():
            for ancestor in domain.type_closure(t):
                self.by_type.setdefault(ancestor, set()).update(names)
        self._either: dict[tuple[str, ...], set[str]] = {}

    def admissible(self, types: tuple[str, ...]) -> set[str]:
        if len(types) == 1:
            return self.by_type.get(types[0], _NOTHING)
        hit = self._either.get(types)
        if hit is None:
            hit = self._either[types] = set().union(*(self.by_type.get(t, ()) for t in types))
        return hit


_NOTHING: frozenset[str] = frozenset()


def _bulk_init(nodes: list, predicates: dict, typing: _Typing) -> set[tuple[str, ...]] | None:
    """The initial state, checked (predicates, arity, objects and their types) with operations over
    whole groups of atoms that run in C (map, set) rather than a Python loop of checks per atom;
    None if anything is off, to go atom by atom."""
    if set(map(type, nodes)) - {list}:
        return None
    try:
        atoms = set(map(tuple, nodes))
    except TypeError:  # a nested list where a name should be
        return None
    groups: dict[object, list] = {}
    for atom in atoms:
        if not atom:
            return None
        groups.setdefault(atom[0], []).append(atom)
    for head, group in groups.items():
        signature = predicates.get(head)
        if signature is None or set(map(len, group)) != {len(signature) + 1}:
            return None  # unknown predicate (or `(= ...)`, or a list as the head), or wrong arity
        for i, types in enumerate(signature, start=1):
            if not set(map(itemgetter(i), group)) <= typing.admissible(types):
                return None
    return atoms
