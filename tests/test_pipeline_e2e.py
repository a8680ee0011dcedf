"""End to end: two tiny generations through Dagster (in process) and through `iterdeploy run` (dvc repro)
in a temporary git + DVC repository give byte-identical artifacts; a killed run resumes without redoing
finished stages; lineage reads the result.

Slow (about two minutes on 2 cores): marked `slow`, still run in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

pytestmark = pytest.mark.slow


def tiny_params() -> dict:
    """params.yaml with a tiny task set, a tiny random base (in the project, like the shipped one) and
    step counts; filter 'none' so that an untrained model still yields training data and the LoRA
    fine-tuning path runs."""
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["tasks"]["splits"] = [
        {"name": "deploy", "domain": "blocksworld", "sizes": [3, 4], "per_size": 2},
        {"name": "deploy", "domain": "ferry", "sizes": [3], "per_size": 2},
        {"name": "test", "domain": "blocksworld", "sizes": [3], "per_size": 2},
        {"name": "test", "domain": "ferry", "sizes": [3], "per_size": 2},
    ]
    p["model"].update(path="models/base", sha256=None)
    p["sampling"].update(k=2, max_new_tokens=40, batch_size=8)
    p["curation"].update(filter="none")
    p["training"].update(method="lora", init_from="previous", max_steps=2, batch_size=4, lora_r=2, lora_alpha=4)
    p["evaluation"].update(k=2, max_new_tokens=40, batch_size=8)
    p["generations"] = 2
    p["runtime"]["threads"] = 1
    return p


def screenshot(page: Path, png: Path) -> None:
    """A headless Chromium screenshot of a local page, with no network (the flags keep it offline)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed (scripts/setup.sh installs Debian's chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--window-size=1200,900", "--virtual-time-budget=8000",
                        f"--screenshot={png}", page.resolve().as_uri()], check=True, capture_output=True, timeout=120)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from iterdeploy.artifacts import tree_hash
    from iterdeploy.pipeline import dvc
    from iterdeploy.pipeline.dvcgen import write_dvc_yaml
    from iterdeploy.pipeline.params import load_params
    from iterdeploy.testing.tiny_models import build_tiny_embedded_base

    try:
        dvc.find_dvc()
    except dvc.DvcError as exc:
        pytest.fail(str(exc))
    root = tmp_path_factory.mktemp("project")
    params = tiny_params()
    base = build_tiny_embedded_base(root / "models" / "base", domains=("blocksworld", "ferry"))
    params["model"]["sha256"] = tree_hash(base)  # pinned like the shipped base
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "ci@example.invalid")
    _git(root, "config", "user.name", "ci")
    dvc.init_repo(root)
    write_dvc_yaml(load_params(root / "params.yaml"), root)
    return root


def _lock_outs(root: Path) -> dict[str, str]:
    from iterdeploy.pipeline.dvc import read_lock

    return {o["path"]: o["md5"] for s in read_lock(root).values() for o in s.get("outs", [])}


def _file_hashes(root: Path) -> dict[str, str]:
    from iterdeploy.artifacts import file_hash

    return {p.relative_to(root).as_posix(): file_hash(p) for p in sorted((root / "runs").rglob("*"))
            if p.is_file() and p.name not in ("timings.json", ".gitignore")}


@pytest.fixture(scope="module")
def dagster_run(project):
    from dagster_project.definitions import build_definitions

    defs = build_definitions(project)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process()
    return result


def test_dagster_materializes_the_chain(project, dagster_run):
    from iterdeploy.pipeline import dvc

    assert dagster_run.success
    mats = {e.event_specific_data.materialization.asset_key.to_user_string():
            e.event_specific_data.materialization.metadata for e in dagster_run.get_asset_materialization_events()}
    assert {"taskset", "gen_000/checkpoint", "gen_000/evaluation", "gen_002/evaluation"} <= set(mats)
    assert len(mats) == 13
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in dagster_run.get_asset_check_evaluations()}
    monitor_checks = [("evaluation", f"monitor_{a}") for a in ("distinct_plans", "entropy", "lost_tasks", "self_copy")]
    assert set(checks) == {(f"gen_00{g}/{a}", c) for g in (1, 2) for a, c in
                           [("curated_dataset", "follows_curation_rule"), ("evaluation", "not_worse_than_previous")]
                           + monitor_checks}
    assert all(checks[(f"gen_00{g}/evaluation", c)].severity.name == "WARN" for g in (1, 2) for _, c in monitor_checks)
    # filter 'none' keeps invalid plans, which its own rule allows
    check = checks[("gen_001/curated_dataset", "follows_curation_rule")]
    assert check.metadata["rows"].value > 0 and check.passed
    # metadata: the DVC hash and the plot
    assert mats["gen_002/curated_dataset"]["dvc_md5"].value == _lock_outs(project)[
        "runs/gen_002/curated_dataset.parquet"]
    assert mats["gen_002/evaluation"]["plot"].value.startswith("![progress")
    # Dagster left DVC in step: pinned task set, every stage recorded, nothing to reproduce
    assert (project / "data.dvc").is_file()
    assert dvc.status(cwd=project) == {}
    model_card = json.loads((project / "runs/gen_002/checkpoint/model_card.json").read_text())
    assert model_card["kind"] == "finetune-lora" and "wall_time_s" not in model_card


def test_lineage_of_the_dagster_run(project, dagster_run):
    import pandas as pd

    from iterdeploy.cli import main
    from iterdeploy.pipeline.lineage import pipeline_lineage, task_lineage
    from iterdeploy.pipeline.params import load_params

    params = load_params(project / "params.yaml")
    lin = pipeline_lineage(project, params)
    assert lin["complete"] and lin["inconsistent_links"] == []
    g2 = lin["generations"][2]
    assert [n["md5"] for n in g2["chain"]][1] == _lock_outs(project)["runs/gen_002/samples.parquet"]
    cur = pd.read_parquet(project / "runs/gen_002/curated_dataset.parquet")
    task = str(cur["task_id"].iloc[0])
    info = task_lineage(project, params, task)
    assert info["split"] == "deploy" and info["training_plans"]
    assert {p["trained_generation"] for p in info["training_plans"]} <= {1, 2}
    assert main(["lineage", "--root", str(project), "--task", task]) == 0
    assert main(["lineage", "--root", str(project)]) == 0


def _run_cli(root: Path, *args: str, kill_on: str | None = None) -> tuple[int, str]:
    """`iterdeploy run` in a child process group; with kill_on, SIGKILL the group when that text appears."""
    cmd = [sys.executable, "-m", "iterdeploy", "run", "--root", str(root), *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("DAGSTER_HOME", None)  # DVC's stages are reported to the project's own instance, <root>/.dagster
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    out = []
    deadline = time.monotonic() + 600
    assert proc.stdout is not None
    for line in proc.stdout:
        out.append(line)
        if kill_on and kill_on in line:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("iterdeploy run took over 10 minutes:\n" + "".join(out[-40:]))
    proc.wait()
    proc.stdout.close()
    return proc.returncode, "".join(out)


def test_dvc_repro_gives_identical_artifacts_and_resumes(project, dagster_run):
    from iterdeploy.pipeline import dvc

    assert dagster_run.success
    lock_dagster = _lock_outs(project)
    files_dagster = _file_hashes(project)
    # Start over without any trace of the Dagster run: no outputs, no lock, no DVC cache (no run-cache).
    shutil.rmtree(project / "runs")
    (project / "dvc.lock").unlink()
    shutil.rmtree(project / ".dvc" / "cache", ignore_errors=True)

    # Interrupt the loop hard while generation 1 is sampling...
    code, out = _run_cli(project, kill_on="Running stage 'gen_001-validated_plans'")
    assert code != 0, out
    assert "gen_000-evaluation" in out
    # ...and run it again: finished stages are skipped, the rest completes.
    code, out = _run_cli(project)
    assert code == 0, out[-3000:]
    assert "Stage 'gen_000-checkpoint' didn't change, skipping" in out
    assert "Stage 'gen_001-samples' didn't change, skipping" in out
    assert "Running stage 'gen_001-validated_plans'" in out
    assert "dvc status: clean" in out
    assert dvc.status(cwd=project) == {}
    # Same bytes whichever tool ran it.
    assert _lock_outs(project) == lock_dagster
    assert _file_hashes(project) == files_dagster
    assert "[dagster] reported 13 DVC stage(s)" in out  # the task set and 12 stages, into <root>/.dagster
    # A second run does nothing, and reports nothing twice.
    code, out = _run_cli(project)
    assert code == 0 and "Running stage" not in out
    assert "[dagster] reported 0 DVC stage(s)" in out and "; 13 already recorded" in out


def _instance_assets(project: Path):
    from dagster_project.defs.assets import build_assets
    from iterdeploy.pipeline.params import load_params

    return build_assets(load_params(project / "params.yaml"))


def _stale(instance, assets) -> dict[str, str]:
    from dagster._utils.test.data_versions import get_stale_status_resolver

    resolver = get_stale_status_resolver(instance, assets)
    return {a.key.to_user_string(): resolver.get_status(a.key).value for a in assets}


def test_dvc_runs_are_reported_to_dagster(project, dagster_run, tmp_path):
    """After `iterdeploy run` (the test above), the project's Dagster instance holds one materialization per
    stage DVC ran, with dvc.lock's md5s and a Dagster run's metadata, and Dagster sees every asset as fresh;
    a new task set then makes its readers stale, through the first reader of each generation."""
    import dagster as dg
    from dagster._core.definitions.data_version import DATA_VERSION_TAG

    from dagster_project.defs.events import data_version
    from iterdeploy.pipeline import dvc

    home = project / ".dagster"
    assert "telemetry" in (home / "dagster.yaml").read_text()
    lock, pin = dvc.read_lock(project), dvc.read_pin(project)
    assets = _instance_assets(project)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        taskset = instance.get_latest_materialization_event(dg.AssetKey(["taskset"])).asset_materialization
        assert taskset.metadata["dvc_md5"].value == pin["md5"] and taskset.tags[DATA_VERSION_TAG] == pin["md5"]
        for name, entry in lock.items():
            key = dg.AssetKey(name.split("-"))
            records = instance.fetch_materializations(key, limit=10).records
            assert len(records) == 1, name  # two successful `iterdeploy run`s, one report
            mat = records[0].event_log_entry.asset_materialization
            outs = {o["path"]: o["md5"] for o in entry["outs"]}
            first = Path(mat.metadata["path"].value).relative_to(project).as_posix()  # the stage's first output
            assert mat.metadata["dvc_md5"].value == outs[first], name
            assert mat.metadata["dvc_stage"].value == name and mat.metadata["reported_by"].value == "dvc repro"
            assert mat.tags[DATA_VERSION_TAG].startswith(data_version(outs).value)
        evaluation = instance.get_latest_materialization_event(dg.AssetKey(["gen_002", "evaluation"]))
        md = evaluation.asset_materialization.metadata
        metrics = json.loads((project / "runs/gen_002/metrics.json").read_text())
        assert md["solved"].value == metrics["solved"] and md["tasks"].value == metrics["tasks"]
        # the plot: a short Markdown image (shown inline) served by the webserver from the log storage
        plot = md["plot"].value
        assert plot.startswith("![progress") and len(plot) < 1000
        served = plot.split("(/logs/")[1].rstrip(")").split("/")
        assert (home / "storage" / Path(*served[:-1])).with_suffix(".png").is_file()
        samples = instance.get_latest_materialization_event(dg.AssetKey(["gen_001", "samples"]))
        assert samples.asset_materialization.metadata["rows"].value == len(
            __import__("pandas").read_parquet(project / "runs/gen_001/samples.parquet"))
        # the asset checks, evaluated on what DVC made, once
        for g in (1, 2):
            for artifact, check in (("curated_dataset", "follows_curation_rule"),
                                    ("evaluation", "not_worse_than_previous")):
                history = instance.event_log_storage.get_asset_check_execution_history(
                    dg.AssetCheckKey(dg.AssetKey([f"gen_00{g}", artifact]), check), limit=5)
                assert len(history) == 1 and history[0].event.asset_check_evaluation.passed, (g, check)
            history = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey([f"gen_00{g}", "evaluation"]), "monitor_entropy"), limit=5)
            assert len(history) == 1, g  # the collapse warnings too (passed or not: a random tiny model)
        assert set(_stale(instance, assets).values()) == {"FRESH"}

    # Staleness on a copy of the instance: a new task set (another data version) ...
    copy = tmp_path / "instance"
    shutil.copytree(home, copy)
    with dg.DagsterInstance.from_config(str(copy)) as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=["taskset"], tags={DATA_VERSION_TAG: "0" * 32 + ".dir"}))
        stale = {k for k, v in _stale(instance, assets).items() if v == "STALE"}
        assert stale == {"gen_000/evaluation", "gen_001/samples", "gen_002/samples"}
        # ... and the first reader re-made from it, with the very same bytes: its data version carries the new
        # task set, so the next stage, which reads the task set too (dvc.yaml), is stale as well.
        outs = dvc.locked_outs(lock, "gen_001-samples")
        version = data_version(outs, ["0" * 32 + ".dir", dvc.locked_outs(lock, "gen_000-checkpoint")[
            "runs/gen_000/checkpoint"]])
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=["gen_001", "samples"], tags={DATA_VERSION_TAG: version.value}))
        stale = {k for k, v in _stale(instance, assets).items() if v == "STALE"}
        assert "gen_001/validated_plans" in stale and "gen_001/samples" not in stale


def test_reporting_writes_nothing_in_home(project, dagster_run, tmp_path):
    """The reporter on its own, with the project's instance (DAGSTER_HOME unset) and an empty HOME: nothing new
    to report, and nothing written under ~/.dagster."""
    env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=str(REPO))
    env.pop("DAGSTER_HOME", None)
    proc = subprocess.run([sys.executable, "-m", "dagster_project.report_dvc", "--root", str(project)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "reported 0 DVC stage(s)" in proc.stdout and str(project / ".dagster") in proc.stdout
    assert not (tmp_path / ".dagster").exists()


def test_dvc_experiment_metrics_and_plots(project, dagster_run):
    """`dvc exp run -S curation.per_task=first` runs a variant; metrics and plots render."""
    from iterdeploy.pipeline import dvc

    assert dagster_run.success
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "baseline")
    proc = dvc.run(["exp", "run", "-S", "curation.per_task=first", "-n", "first"], cwd=project)
    out = proc.stdout + proc.stderr
    assert "Stage 'gen_001-samples' didn't change, skipping" in out  # only what the parameter affects re-runs
    assert "Running stage 'gen_001-curated_dataset'" in out
    shown = json.loads(dvc.run(["exp", "show", "--json"], cwd=project).stdout)
    assert "first" in json.dumps(shown)
    from iterdeploy.report.run_report import experiments_table

    # `dvc exp show` has the last generation's metrics (the one DVC metric): every generation is in the cache
    assert set(experiments_table(shown)["generation"]) == {2}
    table = experiments_table(shown, root=project)  # the ablation comparison of `iterdeploy report --experiments`
    assert {"default", "first"} <= set(table["run"])
    # the workspace holds 'first' now: 'default' is the baseline commit, all of its generations
    default = table[(table["run"] == "default") & (table["domain"] == "total")]
    assert list(default["generation"]) == [0, 1, 2]
    first = table[(table["run"] == "first") & (table["domain"] == "total")]
    assert list(first["generation"]) == [0, 1, 2] and list(first["last"]) == [False, False, True]
    last_metrics = json.loads((project / "runs/gen_002/metrics.json").read_text())
    assert first["tasks"].iloc[-1] == last_metrics["tasks"]
    assert first["solved"].iloc[-1] == last_metrics["solved"]
    # the README's table: the default and the variant, their outcome and the parameter that differs, within
    # a terminal's width (rich fills cells it cannot fit with an ellipsis)
    table_env = dict(os.environ, COLUMNS="120")
    shown_table = subprocess.run([dvc.find_dvc(root=project), "exp", "show", "--no-pager", "--only-changed", "--drop",
                                  "Created|by_domain|monitors|generation|tasks|runs/|data/|models/", "--keep",
                                  "^(solved|pass_at_k|longest_plan|curated)$"], cwd=project, env=table_env,
                                 capture_output=True, text=True, check=True).stdout
    assert "first" in shown_table and "curation.per_task" in shown_table and "solved" in shown_table
    assert "…" not in shown_table and max(map(len, shown_table.splitlines())) <= 120, shown_table
    metrics = json.loads(dvc.run(["metrics", "show", "--json"], cwd=project).stdout)
    assert "runs/gen_002/metrics.json" in json.dumps(metrics)
    dvc.run(["plots", "show", "-o", "plots_out"], cwd=project)
    html = (project / "plots_out" / "index.html").read_text()
    # offline: the page inlines Vega instead of loading it from a CDN, and headless Chromium draws it
    assert "cdn.jsdelivr" not in html and "vegaEmbed" in html
    png = project / "plots_out" / "page.png"
    screenshot(project / "plots_out" / "index.html", png)
    from PIL import Image

    image = Image.open(png).convert("L")
    dark = sum(1 for v in image.get_flattened_data() if v < 200)
    assert dark > 2000, f"the plot page rendered blank ({dark} dark pixels)"
    assert "Solved fraction of the test tasks" in html and "progress.png" in html
