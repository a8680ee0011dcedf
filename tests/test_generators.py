"""Built-in generators: valid reference plans (ours and unified-planning's validator), good plans, checked params."""

from __future__ import annotations

import collections
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.errors import ConfigError
from iterdeploy.planning import task_from_text, validate
from iterdeploy.tasks.domains import DOMAINS, domain_path, domain_text
from iterdeploy.tasks.generators import GENERATORS, generate_task, get_generator
from iterdeploy.tasks.generators import blocksworld, ferry, miconic, spanner

SIZES = {
    "blocksworld": [2, 3, 5, 8, 13, 25],
    "childsnack": [1, 2, 5, 10, 20],
    "ferry": [1, 2, 4, 8, 15],
    "floortile": [1, 2, 3, 5, 8],
    "miconic": [1, 2, 4, 8, 15],
    "rovers": [2, 4, 8, 12, 20],
    "satellite": [1, 2, 4, 8, 15],
    "sokoban": [1, 2, 3, 4],
    "spanner": [1, 2, 4, 8, 15],
    "transport": [1, 2, 4, 8, 15],
}


def plan_text(plan) -> str:
    return "".join(f"{a}\n" for a in plan)


def test_registry_has_a_generator_for_every_packaged_domain():
    assert sorted(GENERATORS) == sorted(DOMAINS) == sorted(SIZES)
    assert len(GENERATORS) == 10


def test_packaged_domains_are_the_ipc_files(ipc_root):
    assert len(DOMAINS) == 10
    for name in DOMAINS:
        assert domain_path(name).read_bytes() == (ipc_root / name / "domain.pddl").read_bytes()


def test_unknown_domain_lists_the_generators():
    with pytest.raises(ConfigError, match="no generator for domain 'chess'; available: blocksworld, childsnack, ferry, "
                                          "floortile, miconic, rovers, satellite, sokoban, spanner, transport$"):
        get_generator("chess")
    with pytest.raises(ConfigError, match="packaged domains"):
        domain_path("nosuch")


@pytest.mark.parametrize("domain", sorted(SIZES))
def test_reference_plans_are_valid_at_every_size(domain):
    for size in SIZES[domain]:
        for seed in range(8):
            task = generate_task(domain, size, random.Random(seed), name=f"{domain}-t")
            compiled = task_from_text(domain_text(domain), task.problem)
            verdict = validate(compiled, plan_text(task.plan), strict=True)
            assert verdict.valid, (domain, size, seed, verdict)
            assert verdict.length == len(task.plan) > 0
            assert f"(define (problem {domain}-t)" in task.problem


@pytest.mark.parametrize("domain", sorted(SIZES))
def test_problems_have_the_objects_the_params_ask_for(domain):
    gen = get_generator(domain)
    params = gen.from_size(4)
    task = generate_task(domain, params, random.Random(1))
    compiled = task_from_text(domain_text(domain), task.problem)
    types = collections.Counter(compiled.problem.objects.values())
    p = dict(vars(params))
    expected = {
        "blocksworld": lambda: {"object": 4},
        "ferry": lambda: {"car": p["cars"], "location": p["locations"]},
        "miconic": lambda: {"passenger": p["passengers"], "floor": p["floors"]},
        "spanner": lambda: {"man": 1, "spanner": p["spanners"], "nut": p["nuts"], "location": p["locations"] + 2},
        "childsnack": lambda: {"child": p["children"], "tray": p["trays"], "sandwich": p["sandwiches"],
                               "bread-portion": p["children"], "content-portion": p["children"],
                               "place": p["tables"] + 1},  # + the constant kitchen
        "floortile": lambda: {"tile": (p["rows"] + 1) * p["columns"], "robot": p["robots"], "color": 2},
        "rovers": lambda: {"lander": 1, "mode": 3, "rover": p["rovers"], "store": p["rovers"],
                           "waypoint": p["waypoints"], "camera": p["cameras"], "objective": p["objectives"]},
        "satellite": lambda: {"satellite": p["satellites"], "instrument": p["instruments"], "mode": p["modes"],
                              "direction": p["directions"]},
        "sokoban": lambda: {"location": p["grid"] ** 2, "box": p["boxes"], "direction": 4},  # 4 constants
        "transport": lambda: {"vehicle": p["vehicles"], "package": p["packages"], "location": p["locations"],
                              "size": p["max_capacity"] + 1},
    }[domain]()
    assert dict(types) == expected
    assert task.problem.startswith(";; ")


def test_same_rng_same_task_different_rng_different_task():
    for domain in GENERATORS:
        a = generate_task(domain, 6, random.Random(7))
        b = generate_task(domain, 6, random.Random(7))
        c = generate_task(domain, 6, random.Random(8))
        assert a == b
        assert a.problem != c.problem


def test_reference_plans_pass_unified_planning_validator():
    from unified_planning.engines import ValidationResultStatus
    from unified_planning.io import PDDLReader
    from unified_planning.shortcuts import PlanValidator, get_environment

    get_environment().credits_stream = None
    checked = 0
    sizes = {"sokoban": (1, 2, 3), "rovers": (2, 5, 9), "floortile": (2, 3, 5)}
    with PlanValidator(name="sequential_plan_validator") as validator:
        for domain in sorted(GENERATORS):
            for size, seed in zip(sizes.get(domain, (2, 5, 9)), (0, 1, 2)):
                task = generate_task(domain, size, random.Random(seed))
                reader = PDDLReader()
                problem = reader.parse_problem_string(domain_text(domain), task.problem)
                plan = reader.parse_plan_string(problem, plan_text(task.plan))
                result = validator.validate(problem, plan)
                assert result.status == ValidationResultStatus.VALID, (domain, size, seed, result)
                checked += 1
    assert checked == 3 * len(GENERATORS) == 30


# --- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize("domain, bad, name", [
    ("blocksworld", dict(blocks=1), "blocks"),
    ("blocksworld", dict(blocks=10_000), "blocks"),
    ("ferry", dict(locations=1, cars=3), "locations"),
    ("ferry", dict(locations=5, cars=0), "cars"),
    ("ferry", dict(locations=5, cars=True), "cars"),
    ("miconic", dict(floors=1, passengers=2), "floors"),
    ("miconic", dict(floors=4, passengers="3"), "passengers"),
    ("spanner", dict(spanners=4, nuts=0, locations=3), "nuts"),
    ("spanner", dict(spanners=1, nuts=2, locations=3), "spanners"),
    ("spanner", dict(spanners=4, nuts=2, locations=0), "locations"),
])
def test_bad_parameters_are_config_errors_naming_the_parameter(domain, bad, name):
    with pytest.raises(ConfigError, match=rf"{domain}: parameter '{name}' must be"):
        get_generator(domain).Params(**bad)


@pytest.mark.parametrize("domain", sorted(GENERATORS))
def test_bad_primary_sizes_are_config_errors(domain):
    gen = get_generator(domain)
    for size in (0, -3, 1.5, None):
        with pytest.raises(ConfigError, match=re.escape(domain)):
            gen.from_size(size)


def test_from_size_mappings():
    assert blocksworld.from_size(7) == blocksworld.Params(blocks=7)
    assert ferry.from_size(1) == ferry.Params(locations=5, cars=1)
    assert ferry.from_size(20) == ferry.Params(locations=15, cars=20)
    assert miconic.from_size(1) == miconic.Params(floors=4, passengers=1)
    assert miconic.from_size(10) == miconic.Params(floors=20, passengers=10)
    assert spanner.from_size(1) == spanner.Params(spanners=2, nuts=1, locations=4)
    assert spanner.from_size(5) == spanner.Params(spanners=10, nuts=5, locations=10)
    for gen in GENERATORS.values():
        assert getattr(gen.from_size(6), gen.PRIMARY) == 6


# --- blocksworld ------------------------------------------------------------------------------


def naive_plan(init, goal) -> list[str]:
    """Unstack every tower onto the table, then build the goal towers bottom up."""
    plan = []
    for tower in init:
        for above, below in zip(reversed(tower[1:]), reversed(tower[:-1])):
            plan += [f"(unstack {above} {below})", f"(putdown {above})"]
    for tower in goal:
        for below, above in zip(tower, tower[1:]):
            plan += [f"(pickup {above})", f"(stack {above} {below})"]
    return plan


def misplaced(init, goal) -> int:
    """Blocks not in their final position: each needs at least one move."""
    on, goal_on = blocksworld._support(init), blocksworld._support(goal)

    def final(b):
        return on[b] == goal_on[b] and (on[b] is None or final(on[b]))

    return sum(not final(b) for b in on)


def test_blocksworld_us_plans_beat_naive_plans():
    rng = random.Random(0)
    us_total = naive_total = 0
    for _ in range(200):
        blocks = [f"b{i}" for i in range(1, rng.randint(3, 15) + 1)]
        init, goal = blocksworld.random_state(blocks, rng), blocksworld.random_state(blocks, rng)
        us, naive = blocksworld.us_plan(init, goal), naive_plan(init, goal)
        text = blocksworld.problem_text("blocksworld", "t", blocksworld.Params(len(blocks)),
                                        [(blocks, "object")], ["(arm-empty)"] + blocksworld.state_atoms(init),
                                        blocksworld.state_atoms(goal))
        task = task_from_text(domain_text("blocksworld"), text)
        assert validate(task, plan_text(naive)).valid
        assert validate(task, plan_text(us)).valid
        # Each misplaced block moves once or twice (a move is two actions).
        assert 2 * misplaced(init, goal) <= len(us) <= 4 * misplaced(init, goal)
        us_total += len(us)
        naive_total += len(naive)
    assert us_total < 0.9 * naive_total


def test_blocksworld_keeps_blocks_in_final_position():
    init = [["b1", "b2"], ["b3"]]
    goal = [["b1", "b2", "b3"]]
    assert blocksworld.us_plan(init, goal) == ["(pickup b3)", "(stack b3 b2)"]
    # b2 sits on b1 as in the goal but b1 must move: b2 is not final, so it moves too.
    assert len(blocksworld.us_plan([["b1", "b2"]], [["b2", "b1"]])) == 4


def test_blocksworld_states_are_uniform():
    # 3 blocks have 13 states: 6 single towers, 6 of a pair and a singleton, 1 all on the table.
    rng = random.Random(3)
    counts = collections.Counter(
        tuple(map(tuple, blocksworld.random_state(["b1", "b2", "b3"], rng))) for _ in range(13_000)
    )
    assert len(counts) == 13
    assert all(800 < n < 1200 for n in counts.values()), counts


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 12), st.integers(0, 2**32))
def test_blocksworld_goal_differs_from_init(blocks, seed):
    task = generate_task("blocksworld", blocks, random.Random(seed))
    assert len(task.plan) >= 2


# --- ferry, miconic, spanner ------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**32))
def test_ferry_carries_one_car_at_a_time_without_useless_sails(cars, seed):
    plan = generate_task("ferry", cars, random.Random(seed)).plan
    names = [a.split()[0][1:] for a in plan]
    assert names.count("board") == names.count("debark") == cars
    # Each car needs board, sail, debark; at most one extra (empty) sail per car, never two in a row.
    assert 3 * cars <= len(plan) <= 4 * cars
    assert not any(a == b == "sail" for a, b in zip(names, names[1:]))


def test_ferry_takes_a_car_where_the_ferry_is_first():
    plan = ferry.carry_plan("loc1", {"car1": "loc2", "car2": "loc1"}, {"car1": "loc3", "car2": "loc2"})
    assert plan == ["(board car2 loc1)", "(sail loc1 loc2)", "(debark car2 loc2)",
                    "(board car1 loc2)", "(sail loc2 loc3)", "(debark car1 loc3)"]


def test_miconic_above_is_the_transitive_closure_as_in_ipc(ipc_root):
    ipc = (ipc_root / "miconic" / "testing" / "easy" / "p01.pddl").read_text()
    ipc_above = set(re.findall(r"\(above (f\d+) (f\d+)\)", ipc))
    floors = len(set(re.findall(r"\bf\d+\b", ipc.split("(:init")[0])))
    assert ipc_above == {(f"f{i}", f"f{j}") for i in range(1, floors + 1) for j in range(i + 1, floors + 1)}
    ours = generate_task("miconic", miconic.Params(floors=floors, passengers=1), random.Random(0)).problem
    assert set(re.findall(r"\(above (f\d+) (f\d+)\)", ours)) == ipc_above


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**32))
def test_miconic_serves_everyone_with_few_moves(passengers, seed):
    task = generate_task("miconic", passengers, random.Random(seed))
    names = [a.split()[0][1:] for a in task.plan]
    assert names.count("board") == names.count("depart") == passengers
    stops = {int(f) for f in re.findall(r"\((?:origin|destin) p\d+ f(\d+)\)", task.problem)}
    moves = len(task.plan) - 2 * passengers
    # Every move serves someone on arrival, so at most one move per board/depart (serving one passenger
    # at a time costs as much); at most three sweeps (up, down, up), each stopping once per floor.
    assert moves <= min(3 * len(stops), 2 * passengers)


def test_miconic_sweep_serves_several_passengers_per_stop():
    plan = miconic.sweep_plan(1, {"p1": 2, "p2": 2, "p3": 3}, {"p1": 5, "p2": 5, "p3": 5}, upward=True)
    assert plan == ["(up f1 f2)", "(board f2 p1)", "(board f2 p2)", "(up f2 f3)", "(board f3 p3)",
                    "(up f3 f5)", "(depart f5 p1)", "(depart f5 p2)", "(depart f5 p3)"]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 10), st.integers(0, 2**32))
def test_spanner_plans_are_optimal(nuts, seed):
    params = spanner.from_size(nuts)
    plan = list(generate_task("spanner", params, random.Random(seed)).plan)
    assert len(plan) == (params.locations + 1) + 2 * nuts
    assert plan[-nuts:] == [p for p in plan if p.startswith("(tighten_nut gate ")]


def test_fast_downward_reference_on_a_tiny_task():
    pytest.importorskip("up_fast_downward")
    constructive = generate_task("blocksworld", 3, random.Random(5))
    fd = generate_task("blocksworld", 3, random.Random(5), planner="fast-downward")
    assert fd.problem == constructive.problem
    assert validate(task_from_text(domain_text("blocksworld"), fd.problem), plan_text(fd.plan)).valid
    assert len(fd.plan) <= len(constructive.plan) + 4


def test_unknown_reference_is_a_config_error():
    with pytest.raises(ConfigError, match="planner must be one of"):
        generate_task("ferry", 2, random.Random(0), planner="lama")


@pytest.mark.parametrize("domain", ["blocksworld", "spanner", "ferry", "miconic"])
@pytest.mark.parametrize("size", [2, 3, 6])
def test_naive_reference_is_valid_same_task_and_never_shorter(domain, size):
    """`naive` changes only the plan (same rng draws), and it is a simpler, never shorter strategy."""
    constructive = generate_task(domain, size, random.Random(size))
    naive = generate_task(domain, size, random.Random(size), planner="naive")  # validated inside
    assert naive.problem == constructive.problem
    assert len(naive.plan) >= len(constructive.plan)


def test_naive_blocksworld_unstacks_everything_then_builds():
    from iterdeploy.tasks.generators.blocksworld import naive_plan

    plan = naive_plan([["b1", "b2", "b3"], ["b4"]], [["b3", "b1"], ["b2", "b4"]])
    assert plan == ["(unstack b3 b2)", "(putdown b3)", "(unstack b2 b1)", "(putdown b2)",
                    "(pickup b1)", "(stack b1 b3)", "(pickup b4)", "(stack b4 b2)"]


def test_naive_spanner_picks_up_every_spanner_on_the_way():
    from iterdeploy.planning import task_from_text
    from iterdeploy.tasks.domains import domain_text

    task = generate_task("spanner", 3, random.Random(7), planner="naive")
    parsed = task_from_text(domain_text("spanner"), task.problem)
    spanners = [o for o, t in parsed.problem.objects.items() if t == "spanner"]
    picked = [s for s in task.plan if s.startswith("(pickup_spanner")]
    assert len(picked) == len(spanners) == 6
    assert sum(s.startswith("(tighten_nut") for s in task.plan) == 3
