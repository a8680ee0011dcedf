"""Artifacts that travel: a run pushed to a DVC remote (a local folder here; S3 and SSH work the same way,
see docs/pipeline.md) and pulled into a fresh clone gives the collaborator generation N's checkpoint and
data, byte for byte, with `dvc status` clean; lineage and the report work on it, and `iterdeploy run`
has nothing to recompute (also with `executor: ray`, which is not a stage parameter).

Slow (a one-generation `iterdeploy run` through DVC, then push, clone, pull): marked `slow`, run in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def tiny_params() -> dict:
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["tasks"]["splits"] = [
        {"name": "deploy", "domain": "blocksworld", "sizes": [2, 3], "per_size": 2},
        {"name": "deploy", "domain": "ferry", "sizes": [2], "per_size": 2},
        {"name": "test", "domain": "blocksworld", "sizes": [2], "per_size": 2},
        {"name": "test", "domain": "ferry", "sizes": [1], "per_size": 2},
    ]
    p["model"].update(path="models/base", sha256=None)
    p["sampling"].update(k=2, max_new_tokens=24, batch_size=8)
    p["curation"].update(filter="none")  # an untrained model still yields training data
    p["training"].update(max_steps=2, batch_size=4)
    p["evaluation"].update(k=1, max_new_tokens=24, batch_size=8)
    p["generations"] = 1
    p["runtime"]["threads"] = 1
    return p


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def _iterdeploy(root: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "iterdeploy", *args, "--root", str(root)], cwd=root,
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    return proc.returncode, proc.stdout + proc.stderr


def _files(root: Path) -> dict[str, str]:
    """md5 of every file of the run and the task set (timings.json is a log, not an artifact)."""
    from iterdeploy.pipeline.dvc import file_md5

    return {p.relative_to(root).as_posix(): file_md5(p) for folder in ("runs", "data") for p in
            sorted((root / folder).rglob("*")) if p.is_file() and p.name != "timings.json"}


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    """A one-generation run made by `iterdeploy run`, committed with git and pushed to a folder remote."""
    from iterdeploy.pipeline import dvc
    from iterdeploy.pipeline.dvcgen import write_dvc_yaml
    from iterdeploy.pipeline.params import load_params
    from iterdeploy.testing.tiny_models import build_tiny_embedded_base

    try:
        dvc.find_dvc()
    except dvc.DvcError as exc:
        pytest.fail(str(exc))
    tmp = tmp_path_factory.mktemp("remote-roundtrip")
    root, remote = tmp / "origin", tmp / "remote"
    root.mkdir()
    build_tiny_embedded_base(root / "models" / "base", domains=("blocksworld", "ferry"))  # in git, as the shipped one
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    shutil.copy(REPO / ".gitignore", root / ".gitignore")  # runs/ and data/ are DVC's, not git's
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "ci@example.invalid")
    _git(root, "config", "user.name", "ci")
    dvc.init_repo(root)
    write_dvc_yaml(load_params(root / "params.yaml"), root)
    code, out = _iterdeploy(root, "run")
    assert code == 0 and "dvc status: clean" in out, out[-3000:]
    dvc.run(["remote", "add", "-d", "store", str(remote)], cwd=root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "a run")
    proc = dvc.run(["push"], cwd=root)
    return root, remote, proc.stdout + proc.stderr


def test_push_sends_every_artifact_of_the_run(pushed):
    """Every output dvc.lock records and the task set data.dvc pins is in the remote (DVC 3's layout:
    files/md5/XX/REST, a folder as its .dir listing plus its files); nothing of it is in git."""
    from iterdeploy.pipeline import dvc

    root, remote, _ = pushed
    lock = dvc.read_lock(root)
    recorded = {o["path"]: o["md5"] for s in lock.values() for o in s.get("outs", [])}
    assert "runs/gen_001/checkpoint" in recorded and "runs/gen_001/samples.parquet" in recorded
    recorded["data"] = dvc.read_pin(root)["md5"]
    for path, md5 in recorded.items():
        assert (remote / "files" / "md5" / md5[:2] / md5[2:]).is_file(), f"{path} ({md5}) was not pushed"
    weights = (root / "runs/gen_001/checkpoint/model.safetensors")
    assert (remote / "files" / "md5" / dvc.file_md5(weights)[:2] / dvc.file_md5(weights)[2:]).is_file()
    tracked = _git(root, "ls-files").split()
    assert not [t for t in tracked if t.startswith(("runs/", "data/"))]
    assert {"dvc.lock", "dvc.yaml", "params.yaml", "data.dvc", ".dvc/config", "models/base/model.safetensors"} \
        <= set(tracked)


def test_a_collaborator_who_pulls_gets_the_run_without_recomputing(pushed, tmp_path):
    from iterdeploy.cli import main
    from iterdeploy.pipeline import dvc
    from iterdeploy.pipeline.lineage import pipeline_lineage
    from iterdeploy.pipeline.params import load_params

    root, remote, _ = pushed
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True, capture_output=True)
    assert not (clone / "runs").exists() and not (clone / "data").exists()
    dvc.run(["pull"], cwd=clone)
    # generation 1's checkpoint and data, the same bytes as the origin's
    assert (clone / "runs/gen_001/checkpoint/model.safetensors").is_file()
    assert _files(clone) == _files(root)
    assert dvc.status(cwd=clone) == {}
    # lineage and the report check every file against dvc.lock: all verified, nothing run
    lin = pipeline_lineage(clone, load_params(clone / "params.yaml"))
    assert lin["complete"] and lin["inconsistent_links"] == [] and lin["taskset"]["verified"]
    assert main(["lineage", "--root", str(clone)]) == 0
    assert main(["report", "--root", str(clone), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "summary.md").is_file()
    assert _files(clone) == _files(root)
    # the loop has nothing to do; nor would it on a Ray cluster (the executor is not a stage parameter)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["sampling"].update(executor="ray", ray_workers=4)
    params["evaluation"].update(executor="ray", ray_address="auto")
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert dvc.status(cwd=clone) == {}
    code, out = _iterdeploy(clone, "run")
    assert code == 0 and "Running stage" not in out and "dvc status: clean" in out, out[-3000:]
    assert _files(clone) == _files(root)
