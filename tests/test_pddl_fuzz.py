"""Mutated PDDL: every input reads, or fails with one PDDLError naming the right file and line; what
we accept, unified-planning and VAL accept too, and read alike."""

from __future__ import annotations

import re
import subprocess
import warnings

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import IPC_ROOT
from iterdeploy.errors import PDDLError
from iterdeploy.planning import Verdict, load_task, validate
from test_planning_reader import DOMAIN, PROBLEM

_TOKEN = re.compile(r";[^\n]*|[()]|[^\s();]+|\s+")
VOCAB = ["(", ")", "()", "(p)", "((p))", "and", "not", "or", "forall", "=", "-", "either", "(either a b)", "?x", "?b",
         ":action", ":parameters", ":precondition", ":effect", ":init", ":goal", ":objects", ":types", ":constants",
         ":predicates", ":requirements", ":domain", ":functions", ":strips", ":typing", ":foo", "object", "block",
         "table", "a", "b", "t0", "on", "clear", "free", "move", "increase", "(total-cost)", "0", "1.5", ";", "\n",
         "\r", "\r\n", "\ufeff", "\u212a", "\u00a0", "\x00", "\x1c", "é", " ", "define", "domain", "problem",
         "(and", "(not", "(= a b)", "(= (total-cost) 0)", "x" * 300, "\x00" * 4096, "(:init (free))"]
OPS = ["delete", "insert", "replace", "dup_list", "wrap", "swap", "truncate", "nest"]
mutations = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 10**6), st.sampled_from(VOCAB),
                               st.sampled_from([1, 2, 5, 600, 1500])), min_size=1, max_size=4)


def _close(tokens: list[str], i: int) -> int:
    depth = 0
    for j in range(i, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[j], 0)
        if depth == 0:
            return j
    return len(tokens) - 1


def mutate(text: str, ops) -> str:
    """Token-level edits: delete, insert, replace or swap tokens, cut the file, duplicate a list (a
    second section, predicate, action), wrap a list in `and`s up to 1,500 deep, or put a list where a
    name was (`(:goal ((p)))`, a list in an action's keyword slot)."""
    tokens = _TOKEN.findall(text)
    for op, n, token, depth in ops:
        if not tokens:
            tokens = [token]
            continue
        i = n % len(tokens)
        opens = [k for k, t in enumerate(tokens) if t == "("]
        if op == "delete":
            del tokens[i]
        elif op == "insert":
            tokens[i:i] = [" ", token, " "]
        elif op == "replace":
            tokens[i] = token
        elif op == "swap":
            j = (n // 7) % len(tokens)
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "truncate":
            tokens = tokens[:i]
        elif opens:
            k = opens[n % len(opens)]
            end = _close(tokens, k)
            sub = tokens[k:end + 1]
            if op == "dup_list":
                tokens[end + 1:end + 1] = [" ", *sub]
            elif op == "wrap":
                tokens[k:end + 1] = ["(and "] * depth + sub + [")"] * depth
            else:
                tokens[k:end + 1] = ["(", *sub, ")"]
    return "".join(tokens)


def _pairs() -> list[tuple[str, str]]:
    pairs = [(DOMAIN, PROBLEM)]
    for domain in ("ferry", "childsnack", "rovers"):
        pairs.append(((IPC_ROOT / domain / "domain.pddl").read_text(),
                      (IPC_ROOT / domain / "training" / "easy" / "p01.pddl").read_text()))
    return pairs


@pytest.fixture(scope="module")
def pairs(ipc_root):
    return _pairs()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    return folder / "domain.pddl", folder / "problem.pddl"


def _write(files, domain: str, problem: str) -> None:
    files[0].write_bytes(domain.encode("utf-8", "surrogatepass"))
    files[1].write_bytes(problem.encode("utf-8", "surrogatepass"))


FILE_LEVEL = ("empty file",)
"""Errors about a whole file, which have no line."""


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 3), st.booleans(), mutations)
def test_mutated_pddl_reads_or_fails_with_one_line(pairs, files, which, mutate_domain, ops):
    domain, problem = pairs[which]
    if mutate_domain:
        domain = mutate(domain, ops)
    else:
        problem = mutate(problem, ops)
    _write(files, domain, problem)
    domain_path, problem_path = map(str, files)
    try:
        task = load_task(*files)
    except PDDLError as err:
        message = str(err)
        assert "\n" not in message and message.isprintable(), message
        assert len(message) < 300 + 2 * len(domain_path), message
        assert err.path in (domain_path, problem_path)
        assert err.line is not None or err.cause.startswith(FILE_LEVEL), message
        if not mutate_domain:
            assert err.path == problem_path, message  # the domain is unchanged and valid
        elif err.path == problem_path:  # the domain reads; the two disagree, and the message names the domain
            assert domain_path in message, message
        return
    # whatever reads can be used: any plan over its actions and objects gets a verdict
    words = task.action_names[:3] + task.objects[:4]
    plan = "".join(f"({a} {' '.join(words[i:i + 2])})\n" for i, a in enumerate(task.action_names[:5]))
    for strict in (False, True):
        assert isinstance(validate(task, plan, strict=strict), Verdict)


def _up_facts(files):
    from iterdeploy.testing.validators import UPTask

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return UPTask(*files).facts()


_SMALL_VOCAB = [v for v in VOCAB if len(v) < 100]
small_mutations = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 10**6), st.sampled_from(_SMALL_VOCAB),
                                     st.sampled_from([1, 2, 5])), min_size=1, max_size=2)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.booleans(), small_mutations)
def test_what_we_accept_unified_planning_reads_alike(files, mutate_domain, ops):
    """Derandomized: a failure here must be ours, not a new unified-planning bug found by chance."""
    domain, problem = (mutate(DOMAIN, ops), PROBLEM) if mutate_domain else (DOMAIN, mutate(PROBLEM, ops))
    _write(files, domain, problem)
    try:
        ours = load_task(*files)
    except PDDLError:
        return
    try:
        ref = _up_facts(files)
    except Exception as exc:
        # UP wants one name for one thing (an action and an object may not share a name); PDDL does not.
        assume("already defined" not in str(exc))
        raise
    assert set(ours.problem.objects.items()) == set(ref.objects)
    assert set(ours.init) == set(ref.init)
    assert (ours.goal_pos, ours.goal_neg) == (ref.goal_pos, ref.goal_neg)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2), st.booleans(), small_mutations)
def test_what_we_accept_val_accepts(pairs, files, which, mutate_domain, ops):
    from iterdeploy.testing.validators import val_binary

    domain, problem = pairs[which]
    domain, problem = (mutate(domain, ops), problem) if mutate_domain else (domain, mutate(problem, ops))
    _write(files, domain, problem)
    try:
        load_task(*files)
    except PDDLError:
        return
    (files[0].parent / "empty.plan").write_text("")
    proc = subprocess.run([str(val_binary()), "domain.pddl", "problem.pddl", "empty.plan"], cwd=files[0].parent,
                          capture_output=True, text=True, errors="replace", timeout=60)
    said = proc.stdout + proc.stderr
    assert "Checking plan" in proc.stdout and "error" not in said.lower() and "problem" not in said.lower(), said
