"""The PDDL reader: agreement with unified-planning's reader, and one clear error per malformed input."""

from __future__ import annotations

import json
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
    from iterdeploy.testing.validators import UPTask

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
    (DOMAIN.replace("(clear ?from)", "(clear ?frm)"), PROBLEM, "domain.pddl", 9, ["undeclared variable '?frm'"]),
    (DOMAIN.replace("(clear ?b) (clear ?to)", "(forall (?z - block) (clear ?z)) (clear ?to)"), PROBLEM,
     "domain.pddl", 8, ["unsupported", "forall"]),
    (DOMAIN.replace("(and (on ?b ?from)", "(and (or (on ?b ?from) (free))"), PROBLEM, "domain.pddl", 8,
     ["unsupported", "disjunction"]),
    (DOMAIN.replace(":effect (and", ":effect (and (when (free) (free))"), PROBLEM, "domain.pddl", 9,
     ["unsupported", "conditional effects"]),
    (DOMAIN, PROBLEM.replace("(:domain tiny)", "(:domain blocks)"), "problem.pddl", 1,
     ["problem is for domain 'blocks'", "domain.pddl defines domain 'tiny'"]),
    (DOMAIN, PROBLEM.replace("(on a b)", "(on a c)"), "problem.pddl", 4, ["unknown object 'c'"]),
    (DOMAIN, PROBLEM.replace("(clear a)", "(clear z)"), "problem.pddl", 3, ["unknown object 'z' in :init"]),
    (DOMAIN, PROBLEM.replace("(clear a)", "(clear free)"), "problem.pddl", 3, ["unknown object 'free'"]),
    (DOMAIN, PROBLEM.replace("(clear a)", "(clear a t0)"), "problem.pddl", 3,
     ["clear takes 1 arguments in", "domain.pddl, not 2"]),
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
    # lists where names go, and nesting deeper than MAX_DEPTH (tracebacks before: TypeError, RecursionError)
    (DOMAIN.replace(":parameters (?b", ":parameters () (free) (free) :x (?b"), PROBLEM, "domain.pddl", 7,
     ["action move: expected :parameters, :precondition or :effect, found a list"]),
    (DOMAIN, PROBLEM.replace("(:goal (and (on a b)))", "(:goal ((on a b)))"), "problem.pddl", 4,
     ["expected a predicate name, 'and' or 'not' in :goal, found a list"]),
    (DOMAIN.replace("(clear ?b) (clear ?to)", "(not ((clear ?b))) (clear ?to)"), PROBLEM, "domain.pddl", 8,
     ["'not' must wrap a single atom"]),
    (DOMAIN, PROBLEM.replace("(on a b)", "(and " * 1000 + "(on a b)" + ")" * 1000), "problem.pddl", 4,
     ["lists nested more than 512 deep"]),
    (DOMAIN, PROBLEM.replace("(on a b)", "\n(on a b) " + "(" * 100_000), "problem.pddl", 5, ["nested more than 512"]),
    # repeated sections: VAL merges or keeps one, unified-planning refuses; either way one is lost
    (DOMAIN, PROBLEM.replace("(:goal", "(:init (free))\n  (:goal"), "problem.pddl", 4,
     ["a second :init section (the first is on line 3)"]),
    (DOMAIN, PROBLEM.replace("(:init", "(:objects c - block)\n  (:init"), "problem.pddl", 3, ["second :objects"]),
    (DOMAIN.replace("(:constants", "(:predicates (x))\n  (:constants"), PROBLEM, "domain.pddl", 6,
     ["a second :predicates section (the first is on line 4)"]),
    (DOMAIN.replace("(:types", "(:requirements :strips)\n  (:types"), PROBLEM, "domain.pddl", 3,
     ["a second :requirements"]),
    # what unified-planning (and mostly VAL) refuses
    (DOMAIN.replace(":equality)", ":equality :negative-precondition)"), PROBLEM, "domain.pddl", 2,
     ["unknown requirement ':negative-precondition'"]),
    (DOMAIN.replace("(:types block table - object)", "(:types block - table table - block)"), PROBLEM,
     "domain.pddl", 3, ["types form a cycle: block - table - block"]),
    (DOMAIN.replace("(:types block table - object)", "(:types block - block table)"), PROBLEM, "domain.pddl", 3,
     ["types form a cycle: block - block"]),
    (DOMAIN.replace("(:types block table - object)", "(:types block table object)"), PROBLEM, "domain.pddl", 3,
     ["object is the root type"]),
    (DOMAIN.replace("(:types block table - object)", "(:types block table block - object)"), PROBLEM,
     "domain.pddl", 3, ["block is declared twice in :types"]),
    (DOMAIN.replace("(:constants t0 - table)", "(:constants t0 t1 t0 - table)"), PROBLEM, "domain.pddl", 4,
     ["t0 is declared twice in :constants"]),
    (DOMAIN.replace("(:constants t0 - table)", "(:constants t0 table)"), PROBLEM, "domain.pddl", 4,
     ["constant table has the name of a type"]),
    (DOMAIN.replace("(free))", "(free) (clear ?y - block))"), PROBLEM, "domain.pddl", 5,
     ["predicate clear is declared twice"]),
    (DOMAIN.replace("(on ?x - block ?y - object)", "(on ?x - block ?x - object)"), PROBLEM, "domain.pddl", 5,
     ["?x is declared twice in predicate on"]),
    (DOMAIN.replace("?from ?to - object", "?from ?from - object"), PROBLEM, "domain.pddl", 7,
     ["?from is declared twice in parameters of move"]),
    (DOMAIN.replace("(:action move", "(:action move :parameters () :effect (free))\n  (:action move"), PROBLEM,
     "domain.pddl", 7, ["action move defined twice"]),
    (DOMAIN, PROBLEM.replace("a b - block", "a b a - block"), "problem.pddl", 2, ["a is declared twice in :objects"]),
    (DOMAIN, PROBLEM.replace("a b - block", "a b - block t0 - table"), "problem.pddl", 2,
     ["object t0 is also a constant of the domain", "domain.pddl"]),
    (DOMAIN, PROBLEM.replace("(on a t0) (on b t0)", "(on t0 a) (on b t0)"), "problem.pddl", 3,
     ["argument 1 of on must be of type block", "domain.pddl", "t0 is table, in :init"]),
    (DOMAIN, PROBLEM.replace("(on a b)", "(on t0 a)"), "problem.pddl", 4,
     ["argument 1 of on must be of type block", "t0 is table, in :goal"]),
    (DOMAIN.replace("(clear ?b) (clear ?to)", "(clear ?b) (on ?to ?b)"), PROBLEM, "domain.pddl", 8,
     ["argument 1 of on must be of type block, ?to is object, in precondition of move"]),
    (DOMAIN.replace("(on ?b ?to) (not", "(and (on ?b ?to)) (not"), PROBLEM, "domain.pddl", 9,
     ["an 'and' inside an 'and' in effect of move"]),
    (DOMAIN, PROBLEM.replace("(clear t0))", "(clear t0) (= (total-cost) 0))"), "problem.pddl", 3,
     ["'total-cost' in :init is not a function of", "domain.pddl"]),
    (DOMAIN, PROBLEM.replace("(clear t0))", "(clear t0) (= a a))"), "problem.pddl", 3,
     ["malformed numeric initialisation"]),
    (DOMAIN.replace("(:action move", "(:action not"), PROBLEM, "domain.pddl", 6,
     ["'not' is not a name: it is a PDDL keyword"]),
    # names are ASCII, as VAL reads them: str.lower() would turn the Kelvin sign into 'k'
    (DOMAIN.replace("(:action move", "(:action mo\u212Ave"), PROBLEM, "domain.pddl", 6,
     ["character U+212A in 'mo\u212Ave': PDDL names are ASCII"]),
    (DOMAIN, PROBLEM.replace("(clear b)", "(clear\u00a0b)"), "problem.pddl", 3, ["character U+00A0"]),
    (DOMAIN, PROBLEM.replace("(clear b)", "(clear\x1cb)"), "problem.pddl", 3, ["character U+001C"]),
    # errors echo at most 60 escaped characters of what they quote
    (DOMAIN, PROBLEM.replace("(clear b)", "(clear " + "\0" * 4096 + ")"), "problem.pddl", 3,
     ["unknown object '\\x00\\x00", "\\x00'... in :init"]),
])
def test_malformed_input_gives_one_clear_error(tmp_path, domain, problem, file, line, words):
    err = _error(tmp_path, domain, problem)
    assert err.path == str(tmp_path / file)
    assert err.line == line, str(err)
    message = str(err)
    assert message.startswith(str(tmp_path / file) + (f":{line}: " if line else ": "))
    for word in words:
        assert word in message


@pytest.mark.parametrize("newline", ["\r", "\r\n"])
def test_old_mac_and_windows_line_endings(tmp_path, newline):
    """A ';' comment ends at \r too: read as one comment, an old-Mac file was 'empty'."""
    domain = "; the tiny domain\n" + DOMAIN
    (tmp_path / "d.pddl").write_bytes(domain.replace("\n", newline).encode())
    (tmp_path / "p.pddl").write_bytes(PROBLEM.replace("\n", newline).encode())
    task = load_task(tmp_path / "d.pddl", tmp_path / "p.pddl")
    assert task.goal_pos == {("on", "a", "b")}
    (tmp_path / "p.pddl").write_bytes(PROBLEM.replace("(clear b)", "(clear q)").replace("\n", newline).encode())
    with pytest.raises(PDDLError, match=r"p\.pddl:3: unknown object 'q'"):
        load_task(tmp_path / "d.pddl", tmp_path / "p.pddl")


def test_a_byte_order_mark_is_ignored(tmp_path):
    (tmp_path / "d.pddl").write_bytes(b"\xef\xbb\xbf" + DOMAIN.encode())
    (tmp_path / "p.pddl").write_bytes(b"\xef\xbb\xbf" + PROBLEM.encode())
    assert load_task(tmp_path / "d.pddl", tmp_path / "p.pddl").init == task_from_text(DOMAIN, PROBLEM).init


def test_goals_nested_up_to_the_limit_read_without_recursion():
    deep = "(and " * 500 + "(on a b) (not (on b a))" + ")" * 500
    task = task_from_text(DOMAIN, PROBLEM.replace("(and (on a b))", deep))
    assert task.goal_pos == {("on", "a", "b")} and task.goal_neg == {("on", "b", "a")}


def test_the_error_names_the_file_that_is_wrong(tmp_path):
    """A domain that declares a predicate twice (the second, wrong arity, used to win) is the
    domain's error, not the unmodified problem's; where the two files disagree, both are named."""
    err = _error(tmp_path, DOMAIN.replace("(free))", "(free) (on ?x - block))"), PROBLEM)
    assert err.path == str(tmp_path / "domain.pddl") and "predicate on is declared twice" in str(err)
    err = _error(tmp_path, DOMAIN.replace("(domain tiny)", "(domain tiny2)"), PROBLEM)
    assert err.path == str(tmp_path / "problem.pddl") and err.line == 1
    assert f"problem is for domain 'tiny', but {tmp_path / 'domain.pddl'} defines domain 'tiny2'" in str(err)
    err = _error(tmp_path, DOMAIN.replace("(free))", "(free ?x))"), PROBLEM.replace("(clear t0)", "(clear t0) (free)"))
    assert f"predicate free takes 1 arguments in {tmp_path / 'domain.pddl'}, not 0" in str(err)


def test_an_undeclared_parent_type_is_a_root_beside_object(tmp_path):
    """`(:types truck - vehicle)` without declaring vehicle: VAL and unified-planning make vehicle a
    root of its own, so a truck is not an `object` and an untyped argument does not take one."""
    domain = """(define (domain d) (:requirements :typing) (:types truck - vehicle)
      (:predicates (at ?x) (ok)) (:action go :parameters (?t - truck) :precondition (ok) :effect (ok)))"""
    problem = "(define (problem p) (:domain d) (:objects t1 - truck) (:init (at t1)) (:goal (ok)))"
    err = _error(tmp_path, domain, problem)
    assert "argument 1 of at must be of type object" in str(err) and "t1 is truck" in str(err)
    with pytest.raises(PDDLError, match="argument 1 of at must be of type object, [?]t is truck"):
        task_from_text(domain.replace("(ok) :effect", "(at ?t) :effect"), "")


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
    # `animal` is a parent that is not declared itself: a root beside `object`, as VAL and UP read it
    assert task.object_types["tom"] == {"cat", "animal"} and task.object_types["b1"] == {"bowl", "object"}
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
    assert len(entries) == 1 and entries[0].suffix == ".json"
    assert json.loads(entries[0].read_text())["problem"]["name"] == fresh.problem.name
    second = load_cached(domain, problem, cache)
    for task in (first, second):
        assert task.init == fresh.init and task.goal_pos == fresh.goal_pos
        assert task.problem.objects == fresh.problem.objects and task.domain == fresh.domain
        assert task.ground("board", ("car1", "loc1")) == fresh.ground("board", ("car1", "loc1"))
    # the same content at another path reports that path
    copy = tmp_path / "copy.pddl"
    copy.write_bytes(problem.read_bytes())
    assert load_cached(domain, copy, cache).problem.path == str(copy)
    # corrupt, truncated, foreign and inconsistent entries are ignored and replaced
    good = entries[0].read_text()
    broken_schema = json.loads(good)
    broken_schema["domain"]["actions"][0][2][0][1] = ["?nobody"]  # an argument that is no parameter
    for junk in ("not json", good[: len(good) // 2], "[" * 100_000, json.dumps({"not": "a task"}),
                 good.replace('"format":2', '"format":1'), json.dumps(broken_schema),
                 good.replace('"init":[[', '"init":[[1,')):
        entries[0].write_text(junk)
        assert load_cached(domain, problem, cache).init == fresh.init
        assert entries[0].read_text() == good
    assert [p.name for p in cache.iterdir()] == [entries[0].name]  # no temporary files left behind
    with pytest.raises(PDDLError, match="problem file not found"):
        load_cached(domain, tmp_path / "missing.pddl", cache)


class _Planted:
    """A pickle that, when loaded, creates a file: what a planted cache entry could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_pickle_is_never_loaded(tmp_path, ipc_root):
    from iterdeploy.planning.taskcache import cache_key

    domain = ipc_root / "ferry" / "domain.pddl"
    problem = ipc_root / "ferry" / "training" / "easy" / "p05.pddl"
    cache, marker = tmp_path / "cache", tmp_path / "ran"
    key = cache_key(domain.read_bytes(), problem.read_bytes())
    cache.mkdir()
    for name in (f"{key}.json", f"{key}.pickle"):
        (cache / name).write_bytes(pickle.dumps(_Planted(marker)))
    assert load_cached(domain, problem, cache).init == load_task(domain, problem).init
    assert not marker.exists()


def test_a_cached_large_problem_loads_clearly_faster_than_reading_it(tmp_path, ipc_root):
    import time

    domain = ipc_root / "rovers" / "domain.pddl"
    problem = ipc_root / "rovers" / "testing" / "medium" / "p29.pddl"  # 1.4 MB, 31,681 atoms

    def cpu(fn) -> float:
        times = []
        for _ in range(3):
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
        return min(times)

    load_cached(domain, problem, tmp_path)
    cached = cpu(lambda: load_cached(domain, problem, tmp_path))
    fresh = cpu(lambda: load_task(domain, problem))
    assert cached < 0.7 * fresh, (cached, fresh)
