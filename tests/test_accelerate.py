"""Fine-tuning a generation under `accelerate launch` with the checked-in multi-GPU config: on this CPU,
two data-parallel processes (gloo instead of NCCL, `--num_processes 2 --mixed_precision no` over the
config's GPU settings) train one LoRA adapter; the first process writes the checkpoint, the model card
records the two processes, and the folder loads.

Slow (two processes start torch and train two steps): marked `slow`, run in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "accelerate-multigpu.yaml"

pytestmark = pytest.mark.slow


def test_the_checked_in_config_is_a_multi_gpu_config():
    cfg = yaml.safe_load(CONFIG.read_text())
    assert cfg["distributed_type"] == "MULTI_GPU" and cfg["num_processes"] > 1 and cfg["mixed_precision"] == "bf16"


def test_a_checkpoint_stage_under_accelerate_launch(tmp_path):
    from iterdeploy.model.loading import load_model
    from iterdeploy.pipeline.context import make_context
    from iterdeploy.pipeline.registry import run_stage
    from iterdeploy.testing.tiny_models import build_tiny_embedded_base

    root = tmp_path / "project"
    build_tiny_embedded_base(root / "models" / "base", domains=("blocksworld", "ferry"))
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["tasks"]["splits"] = [{"name": "deploy", "domain": "blocksworld", "sizes": [2, 3], "per_size": 2},
                            {"name": "test", "domain": "ferry", "sizes": [1], "per_size": 1}]
    p["model"].update(path="models/base", sha256=None)
    p["sampling"].update(k=2, max_new_tokens=16, batch_size=8)
    p["curation"].update(filter="none")
    p["training"].update(method="lora", lora_r=2, lora_alpha=4, max_steps=2, batch_size=2)
    p.update(generations=1)
    p["runtime"]["threads"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    ctx = make_context(root)
    run_stage(ctx, "taskset", 0)
    for artifact, gen in (("checkpoint", 0), ("samples", 1), ("validated_plans", 1), ("curated_dataset", 1)):
        run_stage(ctx, artifact, gen)
    launcher = Path(sys.executable).with_name("accelerate")
    proc = subprocess.run(
        [str(launcher), "launch", "--config_file", str(CONFIG), "--num_processes", "2", "--mixed_precision", "no",
         "-m", "iterdeploy", "stage", "checkpoint", "--gen", "1", "--root", str(root)],
        cwd=root, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert proc.stdout.count("done: gen_001 checkpoint") == 2  # both processes ran the stage
    ck = root / "runs" / "gen_001" / "checkpoint"
    card = json.loads((ck / "model_card.json").read_text())
    assert card["kind"] == "finetune-lora" and card["processes"] == 2 and card["steps"] == 2
    assert card["dataset"]["examples"] == len(ctx.tasks.split("deploy"))  # filter none: one plan per task
    leftovers = [q.name for q in ck.parent.iterdir() if q.name.endswith((".tmp", ".old"))]
    assert leftovers == []
    model, _ = load_model(ck)
    assert sum(p.numel() for n, p in model.named_parameters() if "lora_" in n) > 0
