"""An on-disk cache of parsed tasks, keyed by the content of the domain and problem files.

Reading a 1 MB problem costs ~50 ms; loading its cache entry a third of that (see
benchmarks/README.md), which matters when the same problems are read by process
after process. An entry is JSON of the parsed domain and problem, rebuilt into a
Task on load: reading one cannot run code (the pickles used before could). It is
checked as it is rebuilt, and one that is missing, truncated, malformed or from
another format version is ignored and replaced. Entries are written atomically
(a temporary file, then rename). Whoever can write the cache directory still
decides the verdicts, as with the PDDL files themselves: use a directory only you
can write.

This module imports `task`, never the other way round: callers choose between
`task.load_task` and `load_cached`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from itertools import chain
from pathlib import Path

from iterdeploy.errors import IterdeployError
from iterdeploy.planning.pddl import (
    EQUALITY, ActionSchema, Domain, Literal, Problem, parse_domain, parse_problem, paused_gc, read_file_bytes,
    read_pddl_bytes,
)
from iterdeploy.planning.task import Task

FORMAT = 2
"""Bump when Task, Domain or Problem change shape: old entries are then never read. (1 was pickle.)"""


def cache_key(domain: bytes, problem: bytes) -> str:
    h = hashlib.sha256(f"iterdeploy-task-{FORMAT}\0".encode())
    h.update(len(domain).to_bytes(8, "little"))
    h.update(domain)
    h.update(problem)
    return h.hexdigest()


def load_cached(domain_path: str | Path, problem_path: str | Path, cache_dir: str | Path,
                max_bytes: int | None = None) -> Task:
    """The task of the two files, from `cache_dir` when an entry for their content is there."""
    domain_path, problem_path = Path(domain_path), Path(problem_path)
    domain_bytes = read_pddl_bytes(domain_path, "domain", max_bytes)
    problem_bytes = read_pddl_bytes(problem_path, "problem", max_bytes)
    entry = Path(cache_dir) / f"{cache_key(domain_bytes, problem_bytes)}.json"
    task = _read_entry(entry, domain_path, problem_path)
    if task is not None:  # same content, perhaps at another path: it reports the paths asked for
        return task
    domain = parse_domain(domain_bytes.decode("utf-8", errors="replace"), domain_path)
    task = Task(domain, parse_problem(problem_bytes.decode("utf-8", errors="replace"), domain, problem_path))
    _write_entry(entry, task)
    return task


# --------------------------------------------------------------------------- to JSON

def _literals(literals) -> list:
    return [[lit.predicate, list(lit.args), lit.positive] for lit in literals]


def to_json(task: Task) -> dict:
    d, p = task.domain, task.problem
    return {
        "format": FORMAT,
        "domain": {
            "name": d.name, "requirements": list(d.requirements), "supertypes": d.supertypes,
            "constants": d.constants, "predicates": {k: [list(t) for t in sig] for k, sig in d.predicates.items()},
            "functions": list(d.functions),
            "actions": [[a.name, [[v, list(t)] for v, t in a.parameters], _literals(a.precondition),
                         _literals(a.effect)] for a in d.actions.values()],
        },
        "problem": {"name": p.name, "domain_name": p.domain_name, "objects": p.objects,
                    "init": sorted(map(list, p.init)), "goal": _literals(p.goal)},
    }


# --------------------------------------------------------------------------- from JSON, checked

class _Bad(Exception):
    """The entry is not what this version writes."""


def _str(x) -> str:
    if type(x) is not str:
        raise _Bad
    return x


def _strs(x) -> tuple[str, ...]:
    if type(x) is not list:
        raise _Bad
    return tuple(map(_str, x))


def _str_map(x) -> dict[str, str]:
    if type(x) is not dict:
        raise _Bad
    for v in x.values():
        _str(v)
    return x


def _literal_list(x) -> tuple[Literal, ...]:
    if type(x) is not list:
        raise _Bad
    out = []
    for item in x:
        if type(item) is not list or len(item) != 3 or type(item[2]) is not bool:
            raise _Bad
        out.append(Literal(_str(item[0]), _strs(item[1]), item[2]))
    return tuple(out)


def _domain(x, path: Path) -> Domain:
    if type(x) is not dict:
        raise _Bad
    predicates = x["predicates"]
    if type(predicates) is not dict:
        raise _Bad
    predicates = {name: tuple(map(_strs, _list(sig))) for name, sig in predicates.items()}
    actions = {}
    for item in _list(x["actions"]):
        name, params, pre, eff = _list(item, 4)
        parameters = tuple((_str(v), _strs(t)) for v, t in (_list(p, 2) for p in _list(params)))
        actions[_str(name)] = ActionSchema(name, parameters, _literal_list(pre), _literal_list(eff))
    domain = Domain(_str(x["name"]), str(path), _strs(x["requirements"]), _str_map(x["supertypes"]),
                    _str_map(x["constants"]), predicates, actions, _strs(x["functions"]))
    _check_schemas(domain)
    return domain


def _list(x, length: int | None = None) -> list:
    if type(x) is not list or (length is not None and len(x) != length):
        raise _Bad
    return x


def _check_schemas(domain: Domain) -> None:
    """What compiling the schemas relies on: every literal names a predicate with its arity (or is
    an equality), over the action's parameters and the domain's constants."""
    for action in domain.actions.values():
        names = {v for v, _ in action.parameters} | set(domain.constants)
        for lit in chain(action.precondition, action.effect):
            signature = domain.predicates.get(lit.predicate)
            arity = 2 if lit.predicate == EQUALITY else None if signature is None else len(signature)
            if len(lit.args) != arity or not names.issuperset(lit.args):
                raise _Bad


def _problem(x, domain: Domain, path: Path) -> Problem:
    if type(x) is not dict:
        raise _Bad
    init = x["init"]
    # ~10^5 names in a large problem, checked by operations that run in C: str.join raises
    # TypeError unless every name is a string, map(len) unless every atom is a list or string.
    if type(init) is not list or (init and min(map(len, init)) < 1):
        raise _Bad
    "".join(chain.from_iterable(init))
    return Problem(_str(x["name"]), str(path), _str(x["domain_name"]), _str_map(x["objects"]),
                   frozenset(map(tuple, init)), _literal_list(x["goal"]))


def from_json(data: dict, domain_path: Path, problem_path: Path) -> Task:
    """The Task of an entry; _Bad (or KeyError, TypeError, ValueError) if it is not a well-formed entry."""
    if type(data) is not dict or data.get("format") != FORMAT:
        raise _Bad
    domain = _domain(data["domain"], domain_path)
    return Task(domain, _problem(data["problem"], domain, problem_path))


def _read_entry(entry: Path, domain_path: Path, problem_path: Path) -> Task | None:
    try:
        data = read_file_bytes(entry, "task cache entry")
    except IterdeployError:  # missing (the usual case), unreadable, not a file, too large
        return None
    try:
        with paused_gc():
            return from_json(json.loads(data), domain_path, problem_path)
    except (_Bad, KeyError, TypeError, ValueError, RecursionError):
        return None  # truncated, corrupt, foreign or planted: rebuilt from the PDDL files


def _write_entry(entry: Path, task: Task) -> None:
    """Best effort: a cache that cannot be written only costs speed."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=entry.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(to_json(task), f, separators=(",", ":"))
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
