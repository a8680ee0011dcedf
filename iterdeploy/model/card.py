"""model_card.json: what a model folder was trained from, how, and how training went."""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

from iterdeploy.artifacts import tree_hash, write_json

CARD = "model_card.json"


def dataset_hash(examples: list[tuple[str, str]]) -> str:
    """Content hash of (prompt, completion) pairs, order included (order changes training)."""
    h = hashlib.sha256()
    for prompt, completion in examples:
        h.update(json.dumps([prompt, completion]).encode() + b"\n")
    return h.hexdigest()


def model_ref(path: str | Path | None) -> dict | None:
    """{'path', 'hash'} of a model folder, or None."""
    if path is None:
        return None
    return {"path": str(path), "hash": tree_hash(path)}


def versions() -> dict:
    import peft
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__}


def write_model_card(out_dir: str | Path, card: dict) -> Path:
    return write_json(Path(out_dir) / CARD, {**card, "versions": versions()})


def read_model_card(model_dir: str | Path) -> dict:
    path = Path(model_dir) / CARD
    return json.loads(path.read_text()) if path.is_file() else {}
