"""The explicit-reward baseline: GRPO from the loop's base model on the loop's deployment tasks, with the
validator's verdict as the reward, on the loop's sample budget; its checkpoints measured by the loop's
own evaluation code.

Its configuration is its own file (grpo/params.yaml, `GRPOParams`) naming the loop's params file, whose
task set, base model, deployment split and sampler (temperature, top-p, max new tokens, batch size),
evaluation and runtime it shares, so the two differ only in how the reward is used. The budget is the
loop's: `generations` x sampling.k x deployment tasks sampled plans; a checkpoint is written and
evaluated after every `evaluate_every` generations' worth of them, so the comparison sets GRPO's
checkpoint p beside the loop's generation p at the same number of plans sampled.

    <out>/log.json               the configuration, the budget, one row per step (reward, loss, samples,
                                 seconds), one row per checkpoint (its metrics.json)
    <out>/step_NNNNN/model/      the policy after step NNNNN (save_pretrained, tokenizer, model_card.json)
    <out>/step_NNNNN/evaluation.parquet, metrics.json   the loop's evaluation of that model; metrics.json adds
                                 samples (plans sampled so far), steps and wall_s (training seconds so far)
    <out>/step_00000/            the base model's evaluation (no model folder: it is the base)
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from iterdeploy import evaluation as evalmetrics
from iterdeploy import rl
from iterdeploy.artifacts import atomic_path, read_json, write_json, write_parquet
from iterdeploy.config import load, option, to_dict
from iterdeploy.errors import ConfigError, IterdeployError
from iterdeploy.model.card import model_ref, write_model_card
from iterdeploy.model.grpo import GRPOConfig, grpo_step
from iterdeploy.model.loading import load_base, load_tokenizer
from iterdeploy.model.tokenizer import save_tokenizer
from iterdeploy.pipeline.context import Context, make_context
from iterdeploy.pipeline.params import inside_project
from iterdeploy.prompts import get_format
from iterdeploy.prompts.examples import prompts_for, renaming_seed
from iterdeploy.seeds import derive_seed

PARAMS_FILE = "grpo/params.yaml"
LOG = "log.json"


@dataclass(frozen=True)
class GRPOParams:
    loop: str = option("params.yaml", "the loop's params file (relative to the root): its task set, base model, "
                                      "deployment split and sampler, evaluation and runtime are this run's",
                       check=inside_project)
    out: str = option("runs-grpo", "folder of the run (relative to the root)", check=inside_project)
    generations: int = option(0, "sample budget in loop generations: generations x sampling.k x deployment tasks "
                                 "plans (0: the loop's `generations`)", ge=0, le=10_000)
    evaluate_every: int = option(1, "write and evaluate a checkpoint after every this many generations' worth of "
                                    "sampled plans", ge=1, le=10_000)
    grpo: GRPOConfig = option(factory=GRPOConfig, doc="the policy-gradient updates")


def load_grpo_params(path: str | Path, overrides=None) -> GRPOParams:
    return load(GRPOParams, path, overrides, complete=True)


def step_name(step: int) -> str:
    return f"step_{step:05d}"


@dataclass(frozen=True)
class Budget:
    per_generation: int
    """Plans one loop generation samples: sampling.k x deployment tasks."""
    generations: int
    samples_per_step: int
    checkpoints: tuple[int, ...]
    """Steps after which a checkpoint is written and evaluated (the last one ends the run)."""

    @property
    def steps(self) -> int:
        return self.checkpoints[-1] if self.checkpoints else 0


def budget(deploy_tasks: int, k: int, generations: int, evaluate_every: int, cfg: GRPOConfig) -> Budget:
    """The loop's budget in GRPO steps: checkpoint p after the first step whose plans reach p generations'
    worth (p = evaluate_every, 2 x evaluate_every, ..., and the last generation)."""
    per_gen = deploy_tasks * k
    per_step = cfg.prompts_per_step * cfg.group_size
    points = sorted(set(list(range(evaluate_every, generations + 1, evaluate_every)) + [generations]))
    return Budget(per_gen, generations, per_step,
                  tuple(dict.fromkeys(math.ceil(p * per_gen / per_step) for p in points if p > 0)))


def prompt_schedule(task_ids: list[str], per_step: int, steps: int, seed: int) -> list[list[str]]:
    """The tasks of every step: passes over the deployment tasks, each in a fresh seeded order."""
    rng = random.Random(seed)
    order: list[str] = []
    while len(order) < per_step * steps:
        tasks = list(task_ids)
        rng.shuffle(tasks)
        order += tasks
    return [order[i * per_step:(i + 1) * per_step] for i in range(steps)]


def _context(root: Path, params: GRPOParams) -> tuple[Context, Path, str]:
    """The loop's context, its base model folder and that folder's hash (checked against model.sha256)."""
    ctx = make_context(root, params.loop)
    folder, digest = ctx.checked_base()
    # the loop's contexts read the prompt format off generation 0's reference; this run reads the base itself
    ctx.__dict__["prompt_format"] = get_format(ctx.params.model.prompt_format, load_tokenizer(folder))
    return ctx, folder, digest


def _evaluate(ctx: Context, model_dir: Path, point: int, out: Path, extra: dict) -> dict:
    from iterdeploy.pipeline.stages import test_results

    e = ctx.params.evaluation
    results = test_results(ctx, model_dir, point, f"grpo {out.name}")
    details = evalmetrics.metrics(results, point, e.k)
    head = {**evalmetrics.headline(details, 0), **extra}
    head.pop("curated", None)
    write_parquet(out / "evaluation.parquet", results)
    write_json(out / "metrics.json", head)
    ctx.log(f"grpo {out.name}: {evalmetrics.solved_line(head)}")
    return head


def run_grpo(root: str | Path, params: GRPOParams, log: Callable[[str], None] | None = None) -> dict:
    """The whole baseline run (see the module doc); returns log.json's content."""
    root = Path(root).resolve()
    ctx, base, base_hash = _context(root, params)
    if log is not None:
        ctx.log = log
    p = ctx.params
    if params.grpo.group_size < 2:
        raise ConfigError("grpo.group_size: GRPO needs at least 2 completions per prompt")
    p.runtime.apply()
    torch.manual_seed(params.grpo.seed)
    deploy = ctx.tasks.split(p.sampling.split)
    if deploy.empty:
        raise ConfigError(f"sampling.split: the task set has no {p.sampling.split!r} tasks ({params.loop})")
    gens = params.generations or p.generations
    if gens < 1:
        raise ConfigError("generations: the budget is 0 plans (set generations here or in the loop's params)")
    plan = budget(len(deploy), p.sampling.k, gens, params.evaluate_every, params.grpo)
    out = root / params.out
    out.mkdir(parents=True, exist_ok=True)
    prompts = dict(prompts_for(ctx.prompt_format, ctx.tasks, deploy))
    tasks = {t: ctx.tasks.task(t) for t in prompts}
    fmt = ctx.prompt_format

    def reward(task_id: str, completion: str) -> float:
        return rl.validator_reward(fmt, tasks[task_id], completion, renaming_seed(task_id))

    tokenizer = load_tokenizer(base)
    model = load_base(base, p.runtime.torch_device(), torch.float32)
    cfg = params.grpo
    optimizer = torch.optim.AdamW([w for w in model.parameters() if w.requires_grad], lr=cfg.lr,
                                  weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0)
    sampling = dataclasses.replace(p.sampling, k=cfg.group_size)
    schedule = prompt_schedule(sorted(prompts), cfg.prompts_per_step, plan.steps, cfg.seed)
    data = {"params": to_dict(params), "loop_params": params.loop, "base": {"path": p.model.path,
            "sha256": base_hash}, "budget": {**dataclasses.asdict(plan), "samples": plan.steps *
            plan.samples_per_step}, "steps": [], "checkpoints": []}
    ctx.log(f"grpo: {plan.steps} steps of {cfg.prompts_per_step} prompts x {cfg.group_size} = "
            f"{plan.samples_per_step} plans (the loop's {gens} generations x {p.sampling.k} x {len(deploy)} "
            f"deployment tasks = {gens * plan.per_generation}); checkpoints after steps "
            f"{', '.join(map(str, plan.checkpoints))}")
    base_eval = out / step_name(0)
    base_eval.mkdir(exist_ok=True)
    data["checkpoints"].append(_evaluate(ctx, base, 0, base_eval, {"step": 0, "samples": 0, "wall_s": 0.0}))
    state = {"wall": 0.0, "samples": 0, "point": 0}

    def record(step: int, seconds: float, stats: dict) -> None:
        state["wall"] += seconds
        state["samples"] += stats["samples"]
        data["steps"].append({"step": step, "samples_total": state["samples"], "wall_s": round(state["wall"], 3),
                              **stats})
        ctx.log(f"grpo step {step}/{plan.steps}: reward {stats['reward_mean']:.3f}, loss {stats['loss']:.4f}, "
                f"{state['wall']:.0f} s")

    def checkpoint(step: int) -> None:
        state["point"] += 1
        folder = out / step_name(step)
        with atomic_path(folder / "model", directory=True) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            save_tokenizer(tokenizer, tmp)
            write_model_card(tmp, {"kind": "grpo", "base_model": model_ref(base), "step": step,
                                   "samples": state["samples"], "grpo": to_dict(cfg), "sampling": to_dict(sampling)})
        extra = {"step": step, "samples": state["samples"], "wall_s": round(state["wall"], 3)}
        data["checkpoints"].append(_evaluate(ctx, folder / "model", state["point"], folder, extra))
        write_json(out / LOG, data)

    if cfg.trainer == "trl":
        _run_trl(model, tokenizer, prompts, schedule, reward, sampling, cfg, plan, out, record, checkpoint)
    else:
        for step in range(1, plan.steps + 1):
            t0 = time.perf_counter()
            batch = [(t, prompts[t]) for t in schedule[step - 1]]
            s = dataclasses.replace(sampling, seed=derive_seed(p.sampling.seed, "grpo", cfg.seed, step))
            stats, _ = grpo_step(model, tokenizer, optimizer, batch, reward, s, cfg, scheduler)
            record(step, time.perf_counter() - t0, stats)
            if step in plan.checkpoints:
                checkpoint(step)
    write_json(out / LOG, data)
    return data


def _run_trl(model, tokenizer, prompts: dict[str, str], schedule: list[list[str]], reward, sampling, cfg, plan: Budget,
             out: Path, record, checkpoint) -> None:
    """The steps through TRL's GRPOTrainer (iterdeploy.model.grpo_trl): the same prompts in the same order
    (the dataset is the schedule, each task repeated group_size times in a row by TRL's sampler)."""
    from iterdeploy.model.grpo_trl import StepRecorder, make_trainer

    def on_step(step: int, seconds: float, logs: dict) -> None:
        n = cfg.prompts_per_step * cfg.group_size
        record(step, seconds, {"samples": n, "reward_mean": float(logs["reward"]),
                               "valid": round(float(logs["reward"]) * n), "loss": float(logs.get("loss", 0.0)),
                               "grad_norm": logs.get("grad_norm"),
                               "completion_tokens": round(float(logs.get("completions/mean_length", 0.0)) * n)})

    rows = [(t, prompts[t]) for step in schedule for t in step]
    trainer = make_trainer(model, tokenizer, rows, reward, sampling, cfg, plan.steps, str(out / "trl"),
                           [StepRecorder(set(plan.checkpoints), on_step, checkpoint)])
    trainer.train()


def read_run(folder: str | Path) -> dict:
    """log.json of a finished (or running) GRPO run; one-line error when it is missing or malformed."""
    path = Path(folder) / LOG
    data = read_json(path, "GRPO run log")
    if not isinstance(data, dict) or not isinstance(data.get("checkpoints"), list) \
            or not isinstance(data.get("steps"), list):
        raise IterdeployError("not a GRPO run log (checkpoints and steps)", path)
    return data
