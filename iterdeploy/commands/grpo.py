"""`iterdeploy grpo`: the explicit-reward baseline (grpo/params.yaml), GRPO on the loop's budget."""

from __future__ import annotations

import argparse
from pathlib import Path

from iterdeploy import config
from iterdeploy.commands import add_project_arguments, params_path


def register(sub: argparse._SubParsersAction) -> None:
    from iterdeploy.pipeline.grpo import PARAMS_FILE, GRPOParams

    p = sub.add_parser(
        "grpo", help="the RL baseline: GRPO with the validator as reward, on the loop's budget (grpo/params.yaml)",
        description="Train the loop's base model with GRPO on the loop's deployment tasks, the validator's 0/1 "
                    "verdict as the reward, for as many sampled plans as the loop's generations sample; write and "
                    "evaluate (the loop's evaluation code, its test split) a checkpoint after every generation's "
                    "worth of plans. `iterdeploy report` puts it beside the loop (rl_view.md).")
    add_project_arguments(p, params=PARAMS_FILE, what="GRPO parameters")
    config.add_arguments(p, GRPOParams)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iterdeploy.pipeline.grpo import load_grpo_params, run_grpo

    root = Path(args.root).resolve()
    params = load_grpo_params(params_path(args), config.overrides(args))
    data = run_grpo(root, params)
    last = data["checkpoints"][-1]
    print(f"grpo: {last['samples']} plans sampled in {last['step']} steps, "
          f"{last['wall_s']:.0f} s; test tasks solved (greedy) "
          + ", ".join(f"{c['samples']}: {c['solved']}" for c in data["checkpoints"])
          + f"; written to {params.out}")
    return 0
