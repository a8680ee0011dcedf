"""Benchmark: one GRPO step, iterdeploy's torch step (the loop's batched sampler) against TRL's GRPOTrainer
(transformers' generate), from the same base on the same deployment prompts with the same sampler settings,
the validator's verdict as the reward. Why `grpo.trainer` defaults to torch (docs/rl.md has a run).

    python benchmarks/grpo.py --base models/embedded-base --steps 2        # the project's params.yaml tasks
    python benchmarks/grpo.py --base models/embedded-base --group 8 --prompts 8 --threads 1

Prints, per trainer: steps, plans sampled, seconds, seconds per step, plans per second, mean completion
tokens and mean reward. The two sample different plans (different random streams), so compare the
seconds per completion token as well as per step.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".", help="project root (its params.yaml: task set, sampler)")
    ap.add_argument("--base", default=None, help="base model folder (default: params.yaml model.path)")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--group", type=int, default=8, help="completions per prompt")
    ap.add_argument("--prompts", type=int, default=8, help="prompts per step")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--trainers", default="torch,trl")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from iterdeploy import rl
    from iterdeploy.model.grpo import GRPOConfig, grpo_step
    from iterdeploy.model.grpo_trl import StepRecorder, make_trainer
    from iterdeploy.model.loading import load_base, load_tokenizer
    from iterdeploy.pipeline.context import make_context
    from iterdeploy.prompts import get_format
    from iterdeploy.prompts.examples import prompts_for, renaming_seed

    ctx = make_context(Path(args.root).resolve(), "params.yaml")
    base = Path(args.base) if args.base else ctx.base_folder()
    tok = load_tokenizer(base)
    fmt = get_format(ctx.params.model.prompt_format, tok)
    deploy = ctx.tasks.split(ctx.params.sampling.split)
    prompts = prompts_for(fmt, ctx.tasks, deploy)[: args.prompts * args.steps]
    tasks = {t: ctx.tasks.task(t) for t, _ in prompts}

    def reward(t: str, c: str) -> float:
        return rl.validator_reward(fmt, tasks[t], c, renaming_seed(t))

    cfg = GRPOConfig(group_size=args.group, prompts_per_step=args.prompts)
    sampling = dataclasses.replace(ctx.params.sampling, k=args.group)
    results = []
    for trainer in args.trainers.split(","):
        model = load_base(base, torch.device("cpu"), torch.float32)
        steps: list[tuple[float, float, float]] = []  # seconds, reward, completion tokens per plan
        if trainer == "torch":
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
            for i in range(args.steps):
                t0 = time.perf_counter()
                stats, _ = grpo_step(model, tok, opt, prompts[i * args.prompts:(i + 1) * args.prompts], reward,
                                     dataclasses.replace(sampling, seed=i), cfg)
                steps.append((time.perf_counter() - t0, stats["reward_mean"],
                              stats["completion_tokens"] / stats["samples"]))
        elif trainer == "trl":
            def on_step(step, seconds, logs):
                steps.append((seconds, float(logs["reward"]), float(logs["completions/mean_length"])))

            rec = StepRecorder(set(), on_step, lambda s: None)
            out = Path(os.environ.get("TMPDIR", "/tmp")) / "iterdeploy-bench-grpo"
            make_trainer(model, tok, prompts, reward, sampling, cfg, args.steps, str(out), [rec]).train()
        else:
            raise SystemExit(f"unknown trainer {trainer!r}")
        sec = sum(s for s, _, _ in steps)
        plans = args.steps * args.prompts * args.group
        tokens = sum(n for _, _, n in steps) / len(steps)
        results.append([trainer, str(args.steps), str(plans), f"{sec:.1f}", f"{sec / args.steps:.1f}",
                        f"{plans / sec:.1f}", f"{tokens:.0f}", f"{1000 * sec / (plans * max(tokens, 1)):.2f}",
                        f"{sum(r for _, r, _ in steps) / len(steps):.3f}"])
        print(f"{trainer}: done", file=sys.stderr, flush=True)
    header = ["trainer", "steps", "plans", "seconds", "s/step", "plans/s", "tokens/plan", "ms/token", "reward"]
    widths = [max(len(r[i]) for r in [header, *results]) for i in range(len(header))]
    for r in [header, *results]:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    print(f"base {base}, {args.prompts} prompts x {args.group} completions a step, max_new_tokens "
          f"{sampling.max_new_tokens}, {args.threads} thread(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
