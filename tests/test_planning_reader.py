"""The PDDL reader: agreement with unified-planning's reader, and one clear error per malformed input."""

from __future__ import annotations

import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import IPC_DOMAINS, IPC_ROOT
from iterdeploy.errors import PDDLError
from iterdeploy.planning import load_task, task_from_text, validate
from iterdeploy.planning.pddl import read_domain, read_problem
from iterdeploy.planning.taskcache import load_cached
from iterdeploy.planning.sexpr import Source, parse_fast, parse_located


def _sample(domain: str) -> list:
    """The two smallest training/easy problems and one seeded pick from testing/easy."""
    easy = sorted((IPC_ROOT / domain / "training" / "easy").glob("*.pddl"), key=lambda p: (p.stat().st_size, p.name))
    testing = sorted((IPC_ROOT / domain / "testing" / "easy").glob("*.pddl"))
    return easy[:2] + [random.Random(domain).choice(testing)]


@pytest.mark.parametrize("domain", IPC_DOMAINS)
def test_reader_agrees_with_unified_planning(ipc_root, domain):
    from iterdeploy.planning.reference import UPTask

    domain_path = ipc_root / domain / "domain.pddl"
    for problem_path in _sample(domain):
        ours = load_task(domain_path, problem_path)
        ref = UPTask(domain_path, problem_path).facts()
        assert {(o, t) for o, t in ours.problem.objects.items()} == set(ref.objects), problem_path
        assert set(ours.init) == set(ref.init), problem_path
        assert set(ours.goal_pos) == set(ref.goal_pos), problem_path
        assert set(ours.goal_neg) == set(ref.goal_neg), problem_path
        assert ours.init and ours.goal_pos


def test_reader_reads_every_ipc_problem(ipc_root):
    """All 1,577 problems with a reference plan, plus the rest of the directories, read without error."""
    for domain in IPC_DOMAINS:
        d = read_domain(ipc_root / domain / "domain.pddl")
        for problem in sorted((ipc_root / domain).glob("*/*/*.pddl")):
            read_problem(problem, d)


# --------------------------------------------------------------------------- malformed inputs

DOMAIN = """(define (domain tiny)
  (:requirements :strips :typing :negative-preconditions :equality)
  (:types block table - object)
  (:constants t0 - table)
  (:predicates (on ?x - block ?y - object) (clear ?x - object) (free))
  (:action move
    :parameters (?b - block ?from ?to - object)
    :precondition (and (on ?b ?from) (clear ?b) (clear ?to) (not (= ?from ?to)))
    :effect (and (on ?b ?to) (not (on ?b ?from)) (clear ?from) (not (clear ?to)))))
"""
PROBLEM = """(define (problem p1) (:domain tiny)
  (:objects a b - block)
  (:init (on a t0) (on b t0) (clear a) (clear b) (clear t0))
  (:goal (and (on a b))))
"""


def _error(tmp_path, domain: str = DOMAIN, problem: str = PROBLEM) -> PDDLError:
    (tmp_path / "domain.pddl").write_text(domain)
    (tmp_path / "problem.pddl").write_text(problem)
    with pytest.raises(PDDLError) as info:
        load_task(tmp_path / "domain.pddl", tmp_path / "problem.pddl")
    err = info.value
    assert "\n" not in str(err)
    return err


def test_valid_tiny_task_reads(tmp_path):
    (tmp_path / "d.pddl").write_text(DOMAIN)
    (tmp_path / "p.pddl").write_text(PROBLEM)
    task = load_task(tmp_path / "d.pddl", tmp_path / "p.pddl")
    assert task.problem.objects == {"t0": "table", "a": "block", "b": "block"}
    assert ("on", "a", "t0") in task.init and task.goal_pos == {("on", "a", "b")}


@pytest.mark.parametrize("domain, problem, file, line, words", [
    (DOMAIN.replace("(free))", "(free)"), PROBLEM, "domain.pddl", 5, ["missing ')'", "(:action starts, on line 6"]),
    (DOMAIN.replace("(not (clear ?to)))))", "(not (clear ?to))))"), PROBLEM, "domain.pddl", 1, ["never closed"]),
    (DOMAIN + ")", PROBLEM, "domain.pddl", 10, ["unbalanced", ")"]),
    (DOMAIN, PROBLEM.replace("(clear t0))", "(clear t0)))"), "problem.pddl", 3,
     ["closes the definition", "more follows on line 4"]),
    (DOMAIN.replace("(clear ?b) (clear ?to)", "(clear ?b) (clean ?to)"), PROBLEM, "domain.pddl", 8,
     ["unknown predicate", "clean"]),
    (DOMAIN, PROBLEM.replace("(clear b)", "(clearr b)"), "problem.pddl", 3, ["unknown predicate", "clearr"]),
    (DOMAIN.replace("(on ?b ?to) (not", "(on ?b) (not"), PROBLEM, "domain.pddl", 9, ["on takes 2 arguments"]),
    (DOMAIN, PROBLEM.replace("(on a b)", "(on a b t0)"), "problem.pddl", 4, ["on takes 2 arguments"]),
    (DOMAIN.replace("(clear ?from)", "(clear ?frm)"), PROBLEM, "domain.pddl", 9, ["undeclared variable ?frm"]),
    (DOMAIN.replace("(clear ?b) (clear ?to)", "(forall (?z - block) (clear ?z)) (clear ?to)"), PROBLEM,
     "domain.pddl", 8, ["unsupported", "forall"]),
    (DOMAIN.replace("(and (on ?b ?from)", "(and (or (on ?b ?from) (free))"), PROBLEM, "domain.pddl", 8,
     ["unsupported", "disjunction"]),
    (DOMAIN.replace(":effect (and", ":effect (and (when (free) (free))"), PROBLEM, "domain.pddl", 9,
     ["unsupported", "conditional effects"]),
    (DOMAIN, PROBLEM.replace("(:domain tiny)", "(:domain blocks)"), "problem.pddl", 1,
     ["problem is for domain 'blocks'", "not 'tiny'"]),
    (DOMAIN, PROBLEM.replace("(on a b)", "(on a c)"), "problem.pddl", 4, ["unknown object 'c'"]),
    (DOMAIN, PROBLEM.replace("(clear a)", "(clear z)"), "problem.pddl", 3, ["unknown object 'z' in :init"]),
    (DOMAIN, PROBLEM.replace("(clear a)", "(clear free)"), "problem.pddl", 3, ["unknown object 'free'"]),
    (DOMAIN, PROBLEM.replace("(clear a)", "(clear a t0)"), "problem.pddl", 3, ["clear takes 1 arguments, not 2"]),
    (DOMAIN, PROBLEM.replace("(clear a)", "()"), "problem.pddl", 3, ["malformed atom in :init"]),
    (DOMAIN, PROBLEM.replace("a b - block", "a b - brick"), "problem.pddl", 2, ["unknown type 'brick'"]),
    (DOMAIN.replace("?from ?to - object", "?from ?to - thing"), PROBLEM, "domain.pddl", 7,
     ["unknown type 'thing'"]),
    (DOMAIN, PROBLEM.replace("(clear a)", "(not (clear a))"), "problem.pddl", 3, ["negative literal in :init"]),
    (DOMAIN.replace("(define (domain tiny)", "(define (problem tiny)"), PROBLEM, "domain.pddl", 1,
     ["not a PDDL domain"]),
    ("", PROBLEM, "domain.pddl", None, ["empty file"]),
    (DOMAIN, PROBLEM + "(extra)", "problem.pddl", 4, ["closes the definition", "line 5"]),
    (DOMAIN, "junk " + PROBLEM, "problem.pddl", 1, ["unexpected 'junk' outside parentheses"]),
])
def test_malformed_input_gives_one_clear_error(tmp_path, domain, problem, file, line, words):
    err = _error(tmp_path, domain, problem)
    assert err.path == str(tmp_path / file)
    assert err.line == line, str(err)
    message = str(err)
    assert message.startswith(str(tmp_path / file) + (f":{line}: " if line else ": "))
    for word in words:
        assert word in message


def test_missing_files_are_named(tmp_path):
    (tmp_path / "domain.pddl").write_text(DOMAIN)
    with pytest.raises(PDDLError, match=r"nope\.pddl: domain file not found"):
        load_task(tmp_path / "nope.pddl", tmp_path / "problem.pddl")
    with pytest.raises(PDDLError, match=r"gone\.pddl: problem file not found"):
        load_task(tmp_path / "domain.pddl", tmp_path / "gone.pddl")
    with pytest.raises(PDDLError, match="directory"):
        load_task(tmp_path / "domain.pddl", tmp_path)


def test_either_types_comments_and_case():
    task = task_from_text(
        """; a comment (with parens
        (DEFINE (DOMAIN Pets) (:types cat dog - animal bowl)
          (:predicates (fed ?a - animal) (full ?b - bowl))
          (:action FEED :parameters (?a - (either cat dog) ?b - bowl)
            :precondition (Full ?b) :effect (and (fed ?a) (not (full ?b)))))""",
        "(define (problem p) (:domain pets) (:objects Tom - cat rex - dog b1 b2 - bowl)"
        " (:init (full b1) (full B2)) (:goal (and (fed tom) (fed rex))))",
    )
    assert task.object_types["tom"] >= {"cat", "animal", "object"}
    assert task.parameter_types("feed")[0] == {"cat", "dog"}
    assert task.init == {("full", "b1"), ("full", "b2")}
    assert validate(task, "(feed tom b1)\n(FEED Rex b2)\n").valid
    verdict = validate(task, "(feed b1 b2)\n")
    assert verdict.error == "type_mismatch" and "cat|dog" in verdict.message


# --------------------------------------------------------------------------- the two S-expression parsers

def _plain(tree):
    return [_plain(x) for x in tree] if isinstance(tree, list) else tree


@pytest.mark.parametrize("domain", IPC_DOMAINS)
def test_fast_and_located_parsers_agree_on_ipc_files(ipc_root, domain):
    for path in [ipc_root / domain / "domain.pddl", *_sample(domain)]:
        text = path.read_text()
        assert parse_fast(text) == _plain(parse_located(Source(text, path)))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="() \n;abAB-?", max_size=60))
def test_fast_parser_is_the_located_parser_or_declines(text):
    fast = parse_fast(text)
    try:
        located = _plain(parse_located(Source(text, "x")))
    except PDDLError:
        assert fast is None
    else:
        assert fast is None or fast == located


# --------------------------------------------------------------------------- the on-disk task cache

def test_task_cache_round_trip_and_corruption(tmp_path, ipc_root):
    domain = ipc_root / "ferry" / "domain.pddl"
    problem = ipc_root / "ferry" / "training" / "easy" / "p05.pddl"
    cache = tmp_path / "cache"
    fresh = load_task(domain, problem)
    first = load_cached(domain, problem, cache)
    entries = list(cache.iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".pickle"
    second = load_cached(domain, problem, cache)
    for task in (first, second):
        assert task.init == fresh.init and task.goal_pos == fresh.goal_pos
        assert task.problem.objects == fresh.problem.objects
        assert task.ground("board", ("car1", "loc1")) == fresh.ground("board", ("car1", "loc1"))
    # the same content at another path reports that path
    copy = tmp_path / "copy.pddl"
    copy.write_bytes(problem.read_bytes())
    assert load_cached(domain, copy, cache).problem.path == str(copy)
    # corrupt and foreign entries are ignored and replaced
    for junk in (b"not a pickle", pickle.dumps({"not": "a task"})):
        entries[0].write_bytes(junk)
        assert load_cached(domain, problem, cache).init == fresh.init
        assert pickle.loads(entries[0].read_bytes()).init == fresh.init
    assert [p.name for p in cache.iterdir()] == [entries[0].name]  # no temporary files left behind
    with pytest.raises(PDDLError, match="problem file not found"):
        load_cached(domain, tmp_path / "missing.pddl", cache)
