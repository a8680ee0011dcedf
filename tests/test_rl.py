"""The RL view: the validator as a reward function, the success-probability estimator and the weights the
accumulation implies (hand-made frames), GRPO's pure parts (advantages, loss, budget, schedule), one GRPO
step on a tiny model (the loss moves the weights toward rewarded completions) and a tiny `iterdeploy grpo`."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"

from iterdeploy import rl  # noqa: E402
from iterdeploy.cli import main  # noqa: E402
from iterdeploy.model import decoding  # noqa: E402
from iterdeploy.model.grpo import (GRPOConfig, advantages, completion_ids, grpo_step, policy_loss,  # noqa: E402
                                   sequence_logprobs)
from iterdeploy.model.loading import load_base, load_tokenizer  # noqa: E402
from iterdeploy.model.sampling_config import SamplingConfig  # noqa: E402
from iterdeploy.model.tokenizer import encode_prompt  # noqa: E402
from iterdeploy.pipeline.grpo import budget, prompt_schedule  # noqa: E402
from iterdeploy.prompts import get_format  # noqa: E402
from iterdeploy.prompts.examples import plan_steps, renaming_seed  # noqa: E402
from iterdeploy.tasks.reader import TaskSetReader  # noqa: E402
from iterdeploy.config import build  # noqa: E402
from iterdeploy.tasks.spec import TaskSetSpec  # noqa: E402
from iterdeploy.tasks.taskset import build_taskset  # noqa: E402
from iterdeploy.testing.tiny_models import build_tiny_embedded_base  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def taskset(tmp_path_factory) -> TaskSetReader:
    out = tmp_path_factory.mktemp("tasks") / "tasks"
    spec = build(TaskSetSpec, {"seed": 0, "planner": "naive", "splits": [
        {"name": "deploy", "domain": "blocksworld", "sizes": [3], "per_size": 2},
        {"name": "test", "domain": "blocksworld", "sizes": [2], "per_size": 2}]}, "tasks")
    build_taskset(spec, out)
    return TaskSetReader(out)


# --------------------------------------------------------------------------- the reward


def test_validator_reward_is_the_validators_verdict(taskset):
    fmt = get_format("compact")
    row = taskset.split("deploy").iloc[0]
    task, seed = taskset.task(row["task_id"]), renaming_seed(row["task_id"])
    reference = plan_steps((taskset.root / row["plan_path"]).read_text())
    good = fmt.completion(task, reference, seed)
    assert rl.validator_reward(fmt, task, good, seed) == 1.0
    # one step short: the goal is not reached; cut off before 'end'; another renaming; not a plan at all
    assert rl.validator_reward(fmt, task, fmt.completion(task, reference[:-1], seed), seed) == 0.0
    assert rl.validator_reward(fmt, task, good.rsplit(" end", 1)[0], seed) == 0.0
    other = next(s for s in range(seed + 1, seed + 50) if fmt.completion(task, reference, s) != good)
    assert rl.validator_reward(fmt, task, good, other) == 0.0
    assert rl.validator_reward(fmt, task, "", seed) == 0.0


# --------------------------------------------------------------------------- estimator and weights

SAMPLES = pd.DataFrame(
    # generation 1 (policy 0): a 1/4, b 0/4, c 4/4; generation 2 (policy 1): a 3/4, b 1/4, c 4/4
    [{"generation": 1, "task_id": "a", "domain": "ferry", "size": 2, "valid": v} for v in (1, 0, 0, 0)]
    + [{"generation": 1, "task_id": "b", "domain": "blocksworld", "size": 5, "valid": False}] * 4
    + [{"generation": 1, "task_id": "c", "domain": "blocksworld", "size": 3, "valid": True}] * 4
    + [{"generation": 2, "task_id": "a", "domain": "ferry", "size": 2, "valid": v} for v in (1, 1, 1, 0)]
    + [{"generation": 2, "task_id": "b", "domain": "blocksworld", "size": 5, "valid": v} for v in (0, 0, 1, 0)]
    + [{"generation": 2, "task_id": "c", "domain": "blocksworld", "size": 3, "valid": True}] * 4
).astype({"valid": bool})


def test_success_probability_is_valid_over_k_sorted_by_domain_and_size():
    probs = rl.success_probabilities(SAMPLES)
    assert list(zip(probs["task_id"], probs["generation"])) == [
        ("c", 1), ("c", 2), ("b", 1), ("b", 2), ("a", 1), ("a", 2)]  # blocksworld 3, blocksworld 5, ferry 2
    p = probs.set_index(["generation", "task_id"])
    assert p.loc[(1, "a"), "p"] == 0.25 and p.loc[(2, "a"), "p"] == 0.75
    assert p.loc[(1, "b"), "valid"] == 0 and p.loc[(2, "b"), "p"] == 0.25
    assert (probs["n"] == 4).all() and (probs["policy"] == probs["generation"] - 1).all()
    with pytest.raises(ValueError, match="size"):
        rl.success_probabilities(SAMPLES.drop(columns="size"))
    assert rl.success_probabilities(SAMPLES.iloc[:0]).empty


def test_expected_reward_is_the_mean_success_probability():
    exp = rl.expected_reward(rl.success_probabilities(SAMPLES)).set_index(["generation", "domain"])
    assert exp.loc[(1, "total"), "reward"] == pytest.approx((0.25 + 0 + 1) / 3)
    assert exp.loc[(2, "total"), "reward"] == pytest.approx((0.75 + 0.25 + 1) / 3)
    assert exp.loc[(1, "total"), "solved"] == 2 and exp.loc[(2, "total"), "solved"] == 3
    assert exp.loc[(2, "blocksworld"), "reward"] == pytest.approx((0.25 + 1) / 2)
    assert exp.loc[(2, "ferry"), "stderr"] == 0.0  # one task
    se = pd.Series([0.75, 0.25, 1.0]).std(ddof=1) / 3 ** 0.5
    assert exp.loc[(2, "total"), "stderr"] == pytest.approx(se)


def test_weights_the_accumulation_implies():
    probs = rl.success_probabilities(SAMPLES)
    # D_1 = {a, c} from gen 1; D_2 = a and c kept from gen 1 (shorter), b new from gen 2
    curated = pd.DataFrame([
        {"generation": 1, "task_id": "a", "origin_generation": 1},
        {"generation": 1, "task_id": "c", "origin_generation": 1},
        {"generation": 2, "task_id": "a", "origin_generation": 1},
        {"generation": 2, "task_id": "c", "origin_generation": 1},
        {"generation": 2, "task_id": "b", "origin_generation": 2},
    ])
    w = rl.implied_weights(curated, probs).set_index(["generation", "origin_generation"])
    assert list(w.index) == [(1, 1), (2, 1), (2, 2)]
    assert w.loc[(1, 1), "share"] == 1.0 and w.loc[(2, 1), "share"] == pytest.approx(2 / 3)
    assert w.loc[(2, 1), "staleness"] == 1 and w.loc[(2, 2), "staleness"] == 0
    assert w.loc[(2, 1), "behaviour_policy"] == 0
    # a kept plan stands for its task's p valid mass: weight 1/p under the policy that drew it (a: 1/4, c: 1)
    assert w.loc[(1, 1), "mean_weight"] == pytest.approx((4 + 1) / 2)
    assert w.loc[(2, 2), "mean_weight"] == pytest.approx(4.0) and w.loc[(2, 2), "mean_p"] == 0.25
    assert rl.implied_weights(curated.assign(origin_generation=pd.NA), probs).empty


# --------------------------------------------------------------------------- GRPO, pure parts


def test_group_relative_advantages():
    a = advantages([1, 0, 0, 0, 1, 1, 1, 1], 4)
    assert a[4:] == [0.0] * 4  # all valid: no signal
    assert a[0] > 0 > a[1] and a[1] == a[2] == a[3]
    assert sum(a[:4]) == pytest.approx(0.0) and a[0] == pytest.approx(0.75 / (3 ** 0.5 / 4 + 1e-4))
    assert advantages([1, 0], 2, "none") == [0.5, -0.5]
    with pytest.raises(ValueError, match="whole groups"):
        advantages([1, 0, 1], 2)


def test_policy_loss_is_minus_advantage_weighted_log_likelihood_per_token():
    logp = torch.tensor([-2.0, -4.0], requires_grad=True)
    loss = policy_loss(logp, torch.tensor([1.0, -1.0]), total_tokens=4)
    assert float(loss.detach()) == pytest.approx(-(-2.0 + 4.0) / 4)
    loss.backward()
    assert logp.grad.tolist() == [-0.25, 0.25]  # descending raises the rewarded completion's likelihood


def test_budget_matches_the_loops_generations():
    cfg = GRPOConfig(group_size=8, prompts_per_step=8)
    b = budget(deploy_tasks=72, k=8, generations=4, evaluate_every=1, cfg=cfg)
    assert b.per_generation == 576 and b.samples_per_step == 64 and b.checkpoints == (9, 18, 27, 36)
    odd = budget(deploy_tasks=10, k=8, generations=3, evaluate_every=2, cfg=cfg)
    assert odd.checkpoints == (3, 4)  # 160 plans -> step 3 (192), the last generation (240) -> step 4 (256)


def test_prompt_schedule_covers_every_task_before_repeating():
    steps = prompt_schedule(["a", "b", "c", "d", "e"], 2, 5, seed=0)
    assert len(steps) == 5 and all(len(s) == 2 for s in steps)
    flat = [t for s in steps for t in s]
    assert sorted(flat[:5]) == ["a", "b", "c", "d", "e"] and sorted(flat[5:10]) == ["a", "b", "c", "d", "e"]
    assert prompt_schedule(["a", "b", "c", "d", "e"], 2, 5, seed=0) == steps


# --------------------------------------------------------------------------- GRPO on a tiny model


def test_a_grpo_step_moves_the_policy_toward_rewarded_completions(tmp_path, taskset):
    base = build_tiny_embedded_base(tmp_path / "base", domains=("blocksworld",), hidden=16, layers=1)
    tok, model = load_tokenizer(base), load_base(base, torch.device("cpu"), torch.float32)
    fmt = get_format("compact", tok)
    rows = taskset.split("deploy")
    prompts = [(t, fmt.prompt(taskset.task(t), renaming_seed(t))) for t in rows["task_id"]]
    sampling = SamplingConfig(k=4, temperature=1.0, top_p=1.0, max_new_tokens=12, batch_size=16, seed=3)
    target = tok.convert_tokens_to_ids("unstack")

    def reward(task_id: str, completion: str) -> float:  # a reward the random model earns now and then
        return float(completion.split()[:1] == ["unstack"])

    def reward_rate() -> float:  # 64 fresh samples per prompt, the same seed before and after
        many = dataclasses.replace(sampling, k=64, seed=99)
        rows = decoding.generate(model.eval(), tok, prompts, many)
        return sum(reward(r["task_id"], r["completion"]) for r in rows) / len(rows)

    def first_token_logp() -> float:
        ids = [[tok.bos_token_id] + tok(p, add_special_tokens=False)["input_ids"] for _, p in prompts]
        with torch.no_grad():
            return sum(float(torch.log_softmax(model(torch.tensor([i])).logits[0, -1], -1)[target]) for i in ids)

    before, rate_before = first_token_logp(), reward_rate()
    opt = torch.optim.AdamW(model.parameters(), lr=0.05)
    rewards, losses = [], []
    for step in range(4):
        stats, samples = grpo_step(model, tok, opt, prompts, reward, sampling.__class__(**{
            **sampling.__dict__, "seed": step}), GRPOConfig(group_size=4, prompts_per_step=2))
        rewards.append(stats["reward_mean"])
        losses.append(stats["loss"])
        assert stats["samples"] == len(samples) == 8 and {s["reward"] for s in samples} <= {0.0, 1.0}
    assert any(loss != 0.0 for loss in losses)  # some group had signal, and the loss was computed
    assert first_token_logp() > before + 0.5  # the rewarded first action became more likely
    after = reward_rate()  # and it is sampled more often: the expected reward rose (deterministic: same seeds)
    assert after > 2 * rate_before and after > rate_before + 0.03


def test_trl_grpo_trainer_takes_the_same_kind_of_step(tmp_path, taskset):
    pytest.importorskip("trl")
    from iterdeploy.model.grpo_trl import StepRecorder, make_trainer

    base = build_tiny_embedded_base(tmp_path / "base", domains=("blocksworld",), hidden=16, layers=1)
    tok, model = load_tokenizer(base), load_base(base, torch.device("cpu"), torch.float32)
    fmt = get_format("compact", tok)
    prompts = [(t, fmt.prompt(taskset.task(t), renaming_seed(t))) for t in taskset.split("deploy")["task_id"]]
    target = tok.convert_tokens_to_ids("unstack")

    def first_token_logp() -> float:
        with torch.no_grad():
            return sum(float(torch.log_softmax(model(torch.tensor([encode_prompt(tok, p)])).logits[0, -1], -1)[target])
                       for _, p in prompts)

    before = first_token_logp()
    steps, checkpoints = [], []
    recorder = StepRecorder({2, 4}, lambda step, seconds, logs: steps.append((step, seconds, logs)),
                            checkpoints.append)
    sampling = SamplingConfig(k=4, temperature=1.0, top_p=1.0, max_new_tokens=12, batch_size=16, seed=3)
    trainer = make_trainer(model, tok, prompts * 4, lambda t, c: float(c.split()[:1] == ["unstack"]), sampling,
                           GRPOConfig(group_size=4, prompts_per_step=2, lr=0.05, trainer="trl"), 4,
                           str(tmp_path / "trl"), [recorder])
    # the prompts TRL tokenizes are the sampler's: bos in front
    assert trainer.train_dataset[0]["prompt"].split()[0] == tok.bos_token
    trainer.train()
    assert [s for s, _, _ in steps] == [1, 2, 3, 4] and checkpoints == [2, 4]
    assert all(0.0 <= logs["reward"] <= 1.0 and seconds > 0 for _, seconds, logs in steps)
    assert any(logs["reward"] > 0 for _, _, logs in steps)  # some group had signal ...
    assert first_token_logp() > before + 0.5  # ... and the update made the rewarded first action more likely


def test_sequence_logprobs_and_completion_ids(tmp_path):
    base = build_tiny_embedded_base(tmp_path / "base", domains=("blocksworld",), hidden=16, layers=1)
    tok, model = load_tokenizer(base), load_base(base, torch.device("cpu"), torch.float32)
    stops = [tok.eos_token_id, tok.convert_tokens_to_ids("end")]
    ids = completion_ids(tok, "pickup object1 ; end", "stop", stops)
    assert ids[-1] == tok.convert_tokens_to_ids("end")  # stopped on 'end': nothing appended
    assert completion_ids(tok, "pickup object1 ;", "stop", stops)[-1] == tok.eos_token_id  # stopped on eos
    assert completion_ids(tok, "pickup object1 ;", "length", stops)[-1] != tok.eos_token_id
    prompt = [tok.bos_token_id] + tok("blocksworld init plan", add_special_tokens=False)["input_ids"]
    both, lengths = sequence_logprobs(model, [(prompt, ids), (prompt, ids[:2])], tok.pad_token_id)
    assert lengths.tolist() == [len(ids), 2]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + ids])).logits[0]
    manual = sum(float(torch.log_softmax(logits[len(prompt) - 1 + i], -1)[t]) for i, t in enumerate(ids))
    assert float(both[0]) == pytest.approx(manual, abs=1e-4)


@pytest.mark.slow
def test_grpo_command_writes_checkpoints_evaluated_like_the_loop(tmp_path):
    root = tmp_path / "project"
    build_tiny_embedded_base(root / "models" / "base", domains=("blocksworld",))
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["tasks"]["splits"] = [{"name": "deploy", "domain": "blocksworld", "sizes": [2], "per_size": 3},
                            {"name": "test", "domain": "blocksworld", "sizes": [2, 3], "per_size": 2}]
    p["model"].update(path="models/base", sha256=None)
    p["sampling"].update(k=2, max_new_tokens=16, batch_size=8)
    p["evaluation"].update(k=1, max_new_tokens=16, batch_size=8)
    p["runtime"]["threads"] = 1
    p["generations"] = 2
    (root / "params.yaml").write_text(yaml.safe_dump(p))
    g = yaml.safe_load((REPO / "grpo" / "params.yaml").read_text())
    g["grpo"].update(group_size=2, prompts_per_step=2)
    (root / "grpo").mkdir()
    (root / "grpo" / "params.yaml").write_text(yaml.safe_dump(g))
    assert main(["stage", "taskset", "--root", str(root)]) == 0
    assert main(["grpo", "--root", str(root)]) == 0
    log = json.loads((root / "runs-grpo" / "log.json").read_text())
    # budget: 2 generations x k 2 x 3 tasks = 12 plans, 4 per step: checkpoints after steps 2 (8 >= 6) and 3
    assert [c["step"] for c in log["checkpoints"]] == [0, 2, 3]
    assert [c["samples"] for c in log["checkpoints"]] == [0, 8, 12]
    assert [s["step"] for s in log["steps"]] == [1, 2, 3]
    assert all(0.0 <= s["reward_mean"] <= 1.0 and "loss" in s for s in log["steps"])
    for c in log["checkpoints"]:
        folder = root / "runs-grpo" / f"step_{c['step']:05d}"
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["tasks"] == 4 and metrics == c
        assert len(pd.read_parquet(folder / "evaluation.parquet")) == 4 * 2  # greedy + k=1 per test task
    assert (root / "runs-grpo" / "step_00003" / "model" / "model_card.json").is_file()
    # the same budget through TRL's GRPOTrainer: the same checkpoints, evaluated the same way
    if importlib.util.find_spec("trl") is not None:
        assert main(["grpo", "--root", str(root), "--grpo.trainer", "trl", "--out", "runs-grpo-trl"]) == 0
        trl_log = json.loads((root / "runs-grpo-trl" / "log.json").read_text())
        assert [c["step"] for c in trl_log["checkpoints"]] == [0, 2, 3]
        assert [c["samples"] for c in trl_log["checkpoints"]] == [0, 8, 12]
        assert trl_log["checkpoints"][0] == log["checkpoints"][0]  # the base, evaluated once more: the same
        assert (root / "runs-grpo-trl" / "step_00003" / "model" / "model.safetensors").is_file()
    # a bad value is one line, exit 2
    assert main(["grpo", "--root", str(root), "--grpo.group_size", "1"]) == 2
