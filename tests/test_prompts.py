"""Prompt formats: compact round trips in every generator domain, renaming, reasons for non-plans, pddl-chat."""

from __future__ import annotations

import os
import random

import pytest

from iterdeploy.errors import ConfigError
from iterdeploy.planning import load_task, task_from_text, validate
from iterdeploy.prompts import CompactFormat, PddlChatFormat, get_format, render_domain, render_problem
from iterdeploy.tasks.domains import domain_text
from iterdeploy.tasks.generators import GENERATORS, generate_task

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DOMAINS = sorted(GENERATORS)


def generated(domain: str, size: int, seed: int = 0):
    gen = generate_task(domain, size, random.Random(seed))
    return task_from_text(domain_text(domain), gen.problem), list(gen.plan)


@pytest.fixture(scope="module")
def tokenizer():
    from iterdeploy.model.tokenizer import build_tokenizer

    return build_tokenizer(DOMAINS, max_objects=160)  # sokoban has a location per grid cell


@pytest.mark.parametrize("domain, size", [(d, s) for d in DOMAINS for s in ((2, 3) if d == "sokoban" else (3, 7))])
def test_compact_round_trip_gives_the_valid_plan_in_real_names(domain, size, tokenizer):
    fmt = get_format("compact", tokenizer)
    task, plan = generated(domain, size, seed=size)
    for seed in range(3):
        prompt, completion = fmt.prompt(task, seed), fmt.completion(task, plan, seed)
        assert "(" not in prompt + completion and completion.endswith("end")
        ids = tokenizer(prompt + " " + completion, add_special_tokens=False)["input_ids"]
        assert tokenizer.unk_token_id not in ids
        back = fmt.plan_from_completion(task, completion, seed)
        assert back.ok, back.errors
        assert [str(s) for s in back.steps] == plan
        assert validate(task, back).valid


def test_compact_round_trip_on_ipc_blocksworld(ipc_root):
    fmt = CompactFormat(max_objects=64)
    root = ipc_root / "blocksworld"
    for n in ("p01", "p05", "p10"):
        task = load_task(root / "domain.pddl", root / "training" / "easy" / f"{n}.pddl")
        plan_text = (root / "plans" / "training" / "easy" / f"{n}.plan").read_text()
        plan = [ln.strip() for ln in plan_text.splitlines() if ln.startswith("(")]
        back = fmt.plan_from_completion(task, fmt.completion(task, plan, 7), 7)
        assert back.ok and validate(task, back).valid


def test_renaming_is_seeded_from_one_pool_and_hides_real_names():
    fmt = CompactFormat(max_objects=32)
    task, _ = generated("ferry", 5)
    names = fmt.names(task, 1)
    assert names == fmt.names(task, 1)
    assert names != fmt.names(task, 2)
    assert len(set(names.values())) == len(names)  # distinct across types: one pool for cars and locations
    for generic in names.values():
        assert generic.startswith("object") and 1 <= int(generic[len("object"):]) <= 32
    prompt = fmt.prompt(task, 1)
    assert not set(prompt.split()) & set(task.objects)


def test_renaming_uses_the_whole_name_range():
    # Small training tasks must still exercise every object token, or larger tasks meet untrained names.
    fmt = CompactFormat(max_objects=16)
    task, _ = generated("blocksworld", 3)
    used = {g for seed in range(200) for g in fmt.names(task, seed).values()}
    assert used == {f"object{i}" for i in range(1, 17)}


@pytest.mark.parametrize("completion, reason", [
    ("", "empty completion"),
    ("pickup object1 ; stack", "cut off"),
    ("pickup object99 ; end", "names no object"),
    ("; ; end", "empty action"),
    ("end", "no actions"),
])
def test_compact_non_plans_get_a_reason(completion, reason):
    fmt = CompactFormat(max_objects=128)
    task, _ = generated("blocksworld", 3)
    plan = fmt.plan_from_completion(task, completion, 0)
    assert not plan.ok
    assert any(reason in e.reason for e in plan.errors), plan.errors
    assert not validate(task, plan).valid


def test_compact_refuses_what_it_cannot_write(tokenizer):
    fmt = get_format("compact", tokenizer)
    task, _ = generated("blocksworld", 170)
    with pytest.raises(ConfigError, match="has 170 objects; format 'compact' has names for 160"):
        fmt.prompt(task, 0)
    from iterdeploy.model.tokenizer import build_tokenizer

    narrow = get_format("compact", build_tokenizer(["blocksworld"], max_objects=16))
    with pytest.raises(ConfigError, match="vocabulary"):
        narrow.prompt(generated("ferry", 3)[0], 0)
    with pytest.raises(ConfigError, match="unknown prompt format"):
        get_format("prose")


def test_pddl_text_is_rendered_when_a_task_has_no_files():
    task, plan = generated("spanner", 3)
    again = task_from_text(render_domain(task), render_problem(task))
    assert again.init == task.init and again.goal_pos == task.goal_pos
    assert validate(again, "".join(f"{s}\n" for s in plan)).valid


@pytest.fixture(scope="module")
def chat_tokenizer(tmp_path_factory):
    from iterdeploy.model.loading import load_tokenizer
    from iterdeploy.testing.tiny_models import build_tiny_chat_model

    return load_tokenizer(build_tiny_chat_model(tmp_path_factory.mktemp("chat") / "model"))


def test_pddl_chat_prompt_and_round_trip(chat_tokenizer):
    fmt = get_format("pddl-chat", chat_tokenizer)
    task, plan = generated("miconic", 3)
    prompt = fmt.prompt(task, 0)
    assert prompt.startswith("<|im_start|>user\n") and prompt.endswith("<|im_start|>assistant\n")
    assert "(define (domain miconic)" in prompt and "(:init" in prompt and fmt.instruction in prompt
    completion = fmt.completion(task, plan, 0, reasoning="Board everyone, then drive.")
    assert completion.startswith("<think>\n")
    back = fmt.plan_from_completion(task, completion, 0)
    assert back.ok and [str(s) for s in back.steps] == plan and validate(task, back).valid
    # The reasoning trace survives tokenization (think tags are tokens, not special ones).
    ids = chat_tokenizer(completion, add_special_tokens=False)["input_ids"]
    assert chat_tokenizer.decode(ids, skip_special_tokens=True) == completion


@pytest.mark.parametrize("completion, reason", [
    ("I cannot solve this.", "no '(action"),
    ("<think>\nfirst I pick up b1 and then", "never closed"),
    ("1. (board f1 p1\n", "unclosed"),
])
def test_pddl_chat_non_plans_get_a_reason(completion, reason, chat_tokenizer):
    fmt = PddlChatFormat(chat_tokenizer)
    task, _ = generated("miconic", 3)
    plan = fmt.plan_from_completion(task, completion, 0)
    assert not plan.ok and any(reason in e.reason for e in plan.errors), plan.errors


def test_pddl_chat_needs_a_chat_template(tokenizer):
    with pytest.raises(ConfigError, match="chat template"):
        get_format("pddl-chat", tokenizer)
    with pytest.raises(ConfigError, match="word-level"):
        CompactFormat.for_tokenizer(type("T", (), {"get_vocab": lambda self: {"a": 0}})())


BLOCKS = """(define (problem towers) (:domain blocksworld)
 (:objects a b c d e)
 (:init (arm-empty) (clear a) (on a b) (on b c) (on-table c) (clear d) (on d e) (on-table e))
 (:goal (and (on c a) (on a e) (on e d) (on-table d) (on b c))))
"""


def test_compact_lists_atoms_along_their_chains():
    """Towers top-down in the initial state (the order they are taken apart), bottom-up in the goal (the
    order they are built), so each step's fact sits next to the previous one's."""
    task = task_from_text(domain_text("blocksworld"), BLOCKS)
    fmt = CompactFormat(max_objects=16)
    for seed in range(5):
        init, goal = fmt.ordered_state(task, seed)
        init_on = [a[1:] for a in init if a[0] == "on"]
        goal_on = [a[1:] for a in goal if a[0] == "on"]
        assert init_on[init_on.index(("a", "b")) + 1] == ("b", "c")  # the a-b-c tower, top-down
        assert goal_on == [("e", "d"), ("a", "e"), ("c", "a"), ("b", "c")]  # one tower, bottom-up
        # atoms hang on their highest block: a tower's facts are listed together, top to bottom
        tower = init[init.index(("clear", "a")):init.index(("on-table", "c")) + 1]
        assert tower == [("clear", "a"), ("on", "a", "b"), ("on", "b", "c"), ("on-table", "c")]


@pytest.mark.parametrize("domain", ["blocksworld", "ferry", "spanner"])
@pytest.mark.parametrize("size", [2, 5])
def test_naive_plans_in_prompt_order_are_valid_and_follow_the_prompt(domain, size):
    from iterdeploy.tasks.generators import get_generator

    fmt = CompactFormat(max_objects=32)
    for seed in range(4):
        task, _ = generated(domain, size, seed=seed)
        order = fmt.ordered_state(task, seed)
        plan = get_generator(domain).naive_plan_for(task, order)
        assert validate(task, "".join(f"{s}\n" for s in plan)).valid
        listed = [a for a in order[0] if a[0] in ("on", "at")]
        if domain == "blocksworld":  # the unstacking copies the initial `on` atoms in the prompt's order
            unstacks = [s for s in plan if s.startswith("(unstack")]
            assert unstacks == [f"(unstack {x} {y})" for _, x, y in listed]
        elif domain == "ferry":  # cars are carried in the order the prompt lists them
            boarded = [s.split()[1] for s in plan if s.startswith("(board")]
            assert boarded == [a[1] for a in listed if a[1] in boarded]
        else:  # spanners are picked up in the order the prompt lists them
            picked = [s.split()[2] for s in plan if s.startswith("(pickup_spanner")]
            assert picked == [a[1] for a in listed if task.problem.objects[a[1]] == "spanner"]


def test_atom_order_ignores_real_names():
    """The same state under other real names, with the same generic names, gives the same prompt."""
    fmt = CompactFormat(max_objects=16)
    task = task_from_text(domain_text("blocksworld"), BLOCKS)
    renamed_text = BLOCKS.replace("(:objects a b", "(:objects zz yy")
    for old, new in ((" a)", " zz)"), (" a ", " zz "), (" b)", " yy)"), (" b ", " yy ")):
        renamed_text = renamed_text.replace(old, new)
    renamed = task_from_text(domain_text("blocksworld"), renamed_text)
    assert "zz" in renamed.objects and "a" not in renamed.objects
    names = fmt.names(task, 3)
    mapping = {"zz": names["a"], "yy": names["b"], **{k: v for k, v in names.items() if k not in "ab"}}
    fmt_renamed = CompactFormat(max_objects=16)
    fmt_renamed.names = lambda t, s: mapping
    assert fmt_renamed.prompt(renamed, 3) == fmt.prompt(task, 3)
