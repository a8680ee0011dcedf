"""`iterdeploy pretrain`: train the embedded base on a stream of fresh tasks (pretrain/params.yaml)."""

from __future__ import annotations

import argparse
from pathlib import Path

from iterdeploy import config
from iterdeploy.commands import add_project_arguments, params_path


def register(sub: argparse._SubParsersAction) -> None:
    from iterdeploy.pipeline.pretrain import PretrainParams

    p = sub.add_parser(
        "pretrain", help="pre-train the embedded base model (its own params and DVC pipeline: pretrain/)",
        description="Train the embedded model from scratch on a stream of freshly generated tasks (never a "
                    "deploy or test task of the loop's task set), measure its transfer curve per size, and write "
                    "the model folder (safetensors, tokenizer, model_card.json). The default loop starts from it. "
                    "`dvc repro pretrain/dvc.yaml` runs this with DVC.")
    add_project_arguments(p, params="pretrain/params.yaml", what="pre-training parameters")
    config.add_arguments(p, PretrainParams)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iterdeploy.artifacts import tree_hash
    from iterdeploy.pipeline.pretrain import load_pretrain_params, pretrain

    root = Path(args.root).resolve()
    params = load_pretrain_params(params_path(args), config.overrides(args))
    card = pretrain(root, params)
    print(f"wrote {params.out}: final loss {card['final_loss']:.4f}, {card['wall_time_s']['total']:.0f} s; "
          f"sha256 {tree_hash(root / params.out)} (params.yaml model.sha256)")
    return 0
