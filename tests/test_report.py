"""`iterdeploy report` on hand-made runs: the numbers match what was put in, files, errors, comparison.

The artifacts are written with the library's own schemas and writers (evaluation.typed_results and
metrics, curation.curate, evaluation.history_row, artifacts.write_*), so the report is tested against the
files the stages really write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from iterdeploy import curation
from iterdeploy import evaluation as evalmetrics
from iterdeploy.artifacts import write_json, write_parquet
from iterdeploy.cli import main
from iterdeploy.config import set_dotted
from iterdeploy.errors import IterdeployError
from iterdeploy.evaluation import history_row
from iterdeploy.pipeline.layout import Layout
from iterdeploy.pipeline.params import load_params
from iterdeploy.monitors import monitors as monitor_values
from iterdeploy.report.rl_view import write_rl_view
from iterdeploy.report.run_report import (FIGURES, RL_FIGURES, compare_runs, experiments_table, monitors_table,
                                          open_run, task_results, write_comparison, write_report)

REPO = Path(__file__).resolve().parents[1]

TASKS = [(f"{d[:2]}-{s}-{x}", d, s) for d in ("blocksworld", "ferry") for s in (3, 4) for x in "ab"]
"""8 test tasks: 2 domains x sizes 3, 4 x 2 tasks."""

# Greedy plan length per generation and task; None: the greedy plan is invalid.
GREEDY = {
    0: {"bl-3-a": 4, "fe-3-a": 5, "fe-3-b": 6},
    1: {"bl-3-a": 4, "bl-3-b": 6, "bl-4-a": 8, "fe-3-a": 5, "fe-3-b": 6},
    2: {"bl-3-a": 4, "bl-3-b": 6, "bl-4-a": 8, "bl-4-b": 10, "fe-3-a": 5, "fe-3-b": 6, "fe-4-a": 9},
}
# Deployment samples per generation: (task, sample index, plan length, valid).
DEPLOY = {
    1: [("bl-d1", 0, 5, True), ("bl-d1", 1, 3, False), ("fe-d2", 0, 4, False)],
    2: [("bl-d1", 0, 7, True), ("fe-d2", 0, 3, True), ("fe-d3", 0, 4, True), ("fe-d3", 1, 2, False)],
}


def _evaluation(gen: int, greedy: dict[str, int]) -> pd.DataFrame:
    rows = []
    for tid, domain, size in TASKS:
        n = greedy.get(tid)
        rows.append({"task_id": tid, "domain": domain, "size": size, "reference_length": 4, "mode": "greedy",
                     "sample_index": 0, "plan_length": n or 2, "valid": n is not None,
                     "error": None if n else "goal", "completion": "", "plan": ""})
        # A valid, very long sample on every task: samples must count neither as solved nor as longest.
        rows.append({**rows[-1], "mode": "sample", "plan_length": 30 + gen, "valid": True, "error": None})
    return evalmetrics.typed_results(pd.DataFrame(rows))


def _validated(gen: int, samples) -> pd.DataFrame:
    return pd.DataFrame([{
        "task_id": t, "domain": "blocksworld" if t.startswith("bl") else "ferry", "size": 3, "generation": gen,
        "sample_index": i, "sample_id": f"gen_{gen:03d}/{t}/{i}", "model_hash": f"hash{gen - 1}",
        "plan": "(a)\n" * n, "plan_length": n, "valid": v, "error": None if v else "goal", "completion": "",
    } for t, i, n, v in samples])


def make_run(root: Path, greedy: dict[int, dict[str, int]], configured_gens: int | None = None) -> Path:
    """A finished run of generations 0..max(greedy) under `root`, as the stages leave it."""
    n = max(greedy) if configured_gens is None else configured_gens
    params = set_dotted(yaml.safe_load((REPO / "params.yaml").read_text()), "generations", n)
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    lay = Layout.of(load_params(root / "params.yaml"))
    previous, history, curated = None, [], None
    for g in sorted(greedy):
        if g > 0:
            validated = _validated(g, DEPLOY[g])
            write_parquet(root / lay.samples(g), validated)
            write_parquet(root / lay.validated(g), validated)
            curated = curation.curate(validated, curated, generation=g)
            write_parquet(root / lay.curated(g), curated)
        results = _evaluation(g, greedy[g])
        m = evalmetrics.metrics(results, g, 1, previous, g - 1 if g else None)
        history.append(history_row(m))
        write_parquet(root / lay.evaluation(g), results)
        write_json(root / lay.history(g), history)
        write_json(root / lay.details(g), m)
        write_json(root / lay.metrics(g), evalmetrics.headline(m, 0 if curated is None else len(curated)))
        previous = results
    return root


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run", GREEDY)


def test_summary_numbers_match_the_artifacts(run_root: Path, tmp_path: Path):
    data = write_report(run_root, tmp_path / "out")
    assert data == json.loads((tmp_path / "out" / "summary.json").read_text())
    assert data["generations"] == [0, 1, 2] and data["pending"] == []
    assert data["domains"] == ["blocksworld", "ferry"]
    assert data["tasks"] == {"blocksworld": 4, "ferry": 4, "total": 8}
    assert data["solved"] == {"blocksworld": {"0": 1, "1": 3, "2": 4}, "ferry": {"0": 2, "1": 2, "2": 3},
                              "total": {"0": 3, "1": 5, "2": 7}}
    assert data["solved_ratio"] == pytest.approx({"blocksworld": 4.0, "ferry": 1.5, "total": 7 / 3})
    # greedy only: the 30+ step valid samples are ignored
    assert data["longest_valid"] == {"blocksworld": {"0": 4, "1": 8, "2": 10}, "ferry": {"0": 6, "1": 6, "2": 9},
                                     "total": {"0": 6, "1": 8, "2": 10}}
    assert data["longest_valid_ratio"] == pytest.approx({"blocksworld": 2.5, "ferry": 1.5, "total": 10 / 6})
    bw4 = data["success_by_size"]["blocksworld"]["4"]
    assert {g: (c["solved"], c["tasks"], c["success"]) for g, c in bw4.items()} == {
        "0": (0, 2, 0.0), "1": (1, 2, 0.5), "2": (2, 2, 1.0)}
    # gen 1 keeps bl-d1 (5 steps); gen 2 keeps that plan (its own is longer) and adds fe-d2, fe-d3
    assert data["curated"] == {"1": {"rows": 1, "tasks": 1, "by_origin_generation": {"1": 1}},
                               "2": {"rows": 3, "tasks": 3, "by_origin_generation": {"1": 1, "2": 2}}}
    # deployment: every sample counts (not only the curated one); the longest is over valid samples only
    assert data["deployment"] == {
        "1": {"samples": 3, "valid": 1, "tasks": 2, "solved": 1, "longest_valid": 5},
        "2": {"samples": 4, "valid": 3, "tasks": 3, "solved": 3, "longest_valid": 7}}
    assert "| gen_002 | 4 | 3 | 3 / 3 | 7 |" in (tmp_path / "out" / "summary.md").read_text()


def test_solved_counts_agree_with_metrics_json(run_root: Path):
    results = task_results(run_root)
    for g, part in results.groupby("generation"):
        m = json.loads((run_root / "runs" / f"gen_{g:03d}" / "metrics.json").read_text())
        assert int(part["solved"].sum()) == m["solved"]


def test_files_are_written_and_valid(run_root: Path, tmp_path: Path):
    out = tmp_path / "out"
    write_report(run_root, out)
    names = set(FIGURES) | {"summary.md", "summary.json"}
    assert {p.name for p in out.iterdir()} == names  # no temporary files left behind
    for name in FIGURES:
        with Image.open(out / name) as img:
            img.verify()
            assert img.format == "PNG" and img.size[0] > 100
    md = (out / "summary.md").read_text()
    for name in FIGURES:
        assert f"]({name})" in md
    assert "| total | 8 | 3 | 5 | 7 | 2.33× |" in md
    assert "| blocksworld | 4 | 4 | 8 | 10 | 2.50× |" in md
    assert "| 4 | 0.00 (0/2) | 0.50 (1/2) | 1.00 (2/2) |" in md
    assert "| gen_002 | 3 | 3 | 1 | 2 |" in md
    before = {n: (out / n).read_bytes() for n in names}
    write_report(run_root, out)
    assert {n: (out / n).read_bytes() for n in names} == before  # byte-stable: same artifacts, same report


def test_default_out_dir_and_pending_generations(tmp_path: Path):
    root = make_run(tmp_path / "run", {0: GREEDY[0], 1: GREEDY[1]}, configured_gens=3)
    data = write_report(root)
    assert (root / "reports" / "summary.json").is_file()
    assert data["generations"] == [0, 1] and data["pending"] == [2, 3]
    assert "not evaluated yet: gen_002, gen_003" in (root / "reports" / "summary.md").read_text()


def test_run_without_params_uses_generation_folders(run_root: Path):
    (run_root / "params.yaml").unlink()
    assert open_run(run_root).generations == [0, 1, 2]


def test_missing_or_malformed_artifacts_name_the_file(run_root: Path, tmp_path: Path):
    evaluation = run_root / "runs" / "gen_001" / "evaluation.parquet"
    good = evaluation.read_bytes()
    evaluation.unlink()
    with pytest.raises(IterdeployError, match=r"runs/gen_001/evaluation\.parquet: missing") as exc:
        write_report(run_root, tmp_path / "out")
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "out" / "summary.json").exists()
    evaluation.write_bytes(b"not parquet")
    with pytest.raises(IterdeployError, match=r"gen_001/evaluation\.parquet: evaluation results of generation 1 is not a readable Parquet file"):
        write_report(run_root, tmp_path / "out")
    evaluation.write_bytes(good)
    curated = run_root / "runs" / "gen_002" / "curated_dataset.parquet"
    pd.read_parquet(curated).drop(columns=["task_id"]).to_parquet(curated)
    with pytest.raises(IterdeployError, match=r"gen_002/curated_dataset\.parquet: .* lacks column\(s\) task_id"):
        write_report(run_root, tmp_path / "out")
    (run_root / "runs" / "gen_000" / "metrics.json").unlink()
    with pytest.raises(IterdeployError, match=r"gen_000/metrics\.json: missing"):
        open_run(run_root)


def test_compare_runs_side_by_side(run_root: Path, tmp_path: Path):
    # the ablation solves less in generation 2 (and has no 10-step plan) and stops after generation 2
    worse = {**GREEDY, 2: {k: v for k, v in GREEDY[2].items() if k not in ("bl-4-b", "fe-4-a")}}
    other = make_run(tmp_path / "ablation", worse)
    table = compare_runs({"default": run_root, "filter=none": other})
    total = table[table["domain"] == "total"].pivot(index="run", columns="generation", values="solved")
    assert total.loc["default"].tolist() == [3, 5, 7]
    assert total.loc["filter=none"].tolist() == [3, 5, 5]
    last = table[table["last"]].set_index(["run", "domain"])
    assert last.loc[("default", "blocksworld"), "longest_valid"] == 10
    assert last.loc[("filter=none", "blocksworld"), "longest_valid"] == 8
    assert last.loc[("filter=none", "ferry"), "solved"] == 2
    assert last.loc[("default", "total"), "success"] == pytest.approx(7 / 8)

    _with_monitors(run_root, HEALTHY)
    _with_monitors(other, COLLAPSED)
    write_comparison({"default": run_root, "filter=none": other}, tmp_path / "out")
    md = (tmp_path / "out" / "ablations.md").read_text()
    # the collapse monitors per run: the ablation trips every warning in generation 2, the default none
    assert "| default | gen_002 | 2.50 | 1.00 | 0.700 | 0.20 | 0 | – |" in md
    assert "| filter=none | gen_002 | 1.00 | 1.00 | 0.100 | 1.00 | 3 | distinct_plans, entropy, lost_tasks, " \
           "self_copy |" in md
    assert "| filter=none | gen_001 | 2.50 | 1.00 | 0.800 | 0.00 | 0 | – |" in md
    assert "| default | total | 8 | 3 | 5 | 7 |" in md
    assert "| filter=none | total | 8 | 3 | 5 | 5 |" in md
    assert "| default | gen_002 | 10 | 9 | 10 | 7/8 |" in md
    assert "](ablations.png)" in md
    with Image.open(tmp_path / "out" / "ablations.png") as img:
        assert img.format == "PNG"


def test_cli(run_root: Path, tmp_path: Path, capsys):
    other = make_run(tmp_path / "other", {0: GREEDY[0], 1: GREEDY[1]})
    out = tmp_path / "out"
    assert main(["report", "--root", str(run_root), "--out", str(out),
                 "--compare", f"filter=none={other}"]) == 0
    stdout = capsys.readouterr().out
    assert "solved test tasks (greedy)" in stdout
    assert [line.split() for line in stdout.splitlines() if line.startswith("total")][0] == \
        ["total", "8", "3", "5", "7", "2.33"]
    assert "filter=none" in stdout
    assert {p.name for p in out.iterdir()} >= {"summary.json", "ablations.md", "ablations.png"}

    shutil.rmtree(run_root / "runs" / "gen_002")
    (run_root / "runs" / "gen_001" / "evaluation.parquet").unlink()
    assert main(["report", "--root", str(run_root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("iterdeploy report: error:") and "gen_001/evaluation.parquet: missing" in err
    assert main(["report", "--root", str(run_root), "--compare", "nonsense"]) == 2


def test_deployment_table_counts_a_generation_without_valid_samples():
    from iterdeploy.report.run_report import deployment_table

    samples = pd.DataFrame({"generation": [1, 1, 2], "task_id": ["a", "b", "a"], "valid": [False, False, True],
                            "plan_length": pd.array([3, 4, 6], dtype="Int64")})
    table = deployment_table(samples)
    assert table.loc[1].tolist() == [2, 0, 2, 0, pd.NA]
    assert table.loc[2].tolist() == [1, 1, 1, 1, 6]


def _metrics_node(rev: str, name: str | None, solved: list[int], experiments=None, params=None) -> dict:
    files = {f"runs/gen_{g:03d}/metrics.json": {"data": {"tasks": 10, "solved": n,
                                                         "longest_plan": 4, "by_domain": {}}}
             for g, n in enumerate(solved)}
    return {"rev": rev, "name": name, "data": {"rev": rev, "metrics": files, "params": params or {}},
            "experiments": experiments or []}


def test_experiments_table_takes_the_newest_commit_with_experiments():

    def exp(name, solved):
        return {"name": name, "revs": [_metrics_node(f"sha-{name}", name, solved)]}

    shown = [
        _metrics_node("workspace", None, [2, 5]),
        _metrics_node("head", "main", [2, 5]),  # a docs-only commit after the ablations were queued
        _metrics_node("older", None, [2, 5], [exp("filter-none", [2, 1]), exp("init-previous", [2, 4])]),
        _metrics_node("oldest", None, [1, 1], [exp("stale", [1, 0])]),
    ]
    table = experiments_table(shown)
    totals = table[table["domain"] == "total"]
    assert list(dict.fromkeys(totals["run"])) == ["default", "filter-none", "init-previous"]
    assert totals[totals["run"] == "filter-none"]["solved"].tolist() == [2, 1]
    with pytest.raises(IterdeployError, match="no experiment"):
        experiments_table([{"rev": "workspace", "data": {"metrics": {}}, "experiments": []}])


def test_right_after_dvc_exp_run_the_workspace_is_that_experiment_and_the_commit_is_the_baseline():
    variant = {"params.yaml": {"data": {"curation": {"filter": "none"}}}}
    baseline = {"params.yaml": {"data": {"curation": {"filter": "valid"}}}}
    shown = [
        _metrics_node("workspace", None, [2, 1], params=variant),
        _metrics_node("head", "main", [2, 5], params=baseline, experiments=[
            {"name": "filter-none", "revs": [_metrics_node("sha-none", "filter-none", [2, 1], params=variant)]}]),
    ]
    totals = experiments_table(shown, {"workspace": "paper"})
    totals = totals[totals["domain"] == "total"]
    assert list(dict.fromkeys(totals["run"])) == ["paper", "filter-none"]
    assert totals[totals["run"] == "paper"]["solved"].tolist() == [2, 5]  # the commit's numbers, not the variant's


def test_a_forged_file_is_refused_and_an_unrecorded_one_said_so(run_root: Path, tmp_path: Path):
    """The report checks what it reads against dvc.lock: a forged evaluation (all solved) is refused."""
    from iterdeploy.pipeline import dvc
    from iterdeploy.pipeline.layout import Layout as L
    from iterdeploy.pipeline.params import load_params as lp

    lay = L.of(lp(run_root / "params.yaml"))
    data = write_report(run_root, tmp_path / "plain")
    assert data["unverified"] and "no record in dvc.lock" in (tmp_path / "plain" / "summary.md").read_text()
    outs = [{"path": p, "md5": dvc.md5(run_root / p)} for g in (0, 1, 2) for p in (lay.evaluation(g), lay.metrics(g))]
    outs += [{"path": p, "md5": dvc.md5(run_root / p)} for g in (1, 2) for p in (lay.curated(g), lay.validated(g))]
    (run_root / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"all": {"outs": outs}}}))
    data = write_report(run_root, tmp_path / "checked")
    assert data["unverified"] == [] and "checked against the md5" in (tmp_path / "checked" / "summary.md").read_text()
    forged = pd.read_parquet(run_root / lay.evaluation(1)).assign(valid=True)
    forged.to_parquet(run_root / lay.evaluation(1))
    with pytest.raises(IterdeployError, match="differs from what dvc.lock records"):
        write_report(run_root, tmp_path / "forged")


# --------------------------------------------------------------------------- collapse monitors and the RL view


def _deployment(gen: int, plans: dict[str, list[str | None]], entropy: float) -> pd.DataFrame:
    """Validated deployment samples: per task, one plan text per sample (None: invalid)."""
    return pd.DataFrame([{"task_id": t, "plan": p or "", "plan_length": len((p or "").splitlines()),
                          "valid": p is not None, "entropy": entropy} for t, ps in plans.items() for p in ps])


def _with_monitors(root: Path, history: dict[int, dict]) -> None:
    """Put hand-made collapse monitors into the metrics.json of generations 1.. (as the evaluation stage does)."""
    for g, m in history.items():
        path = root / "runs" / f"gen_{g:03d}" / "metrics.json"
        write_json(path, {**json.loads(path.read_text()), "monitors": m})


REFERENCE = pd.Series({"bl-d1": 2, "fe-d2": 2, "fe-d3": 2})
HEALTHY = {  # several distinct valid plans per task, entropy holding, nothing repeated, nothing lost
    1: monitor_values(_deployment(1, {"bl-d1": ["a\nb\n", "b\na\n", "a\nc\n", None], "fe-d2": ["c\nd\n", "d\nc\n"]}, 0.8),
                      None, REFERENCE, 0),
    2: monitor_values(_deployment(2, {"bl-d1": ["a\nb\n", "b\na\n", "a\nc\n"], "fe-d2": ["c\nd\n", "e\nf\n"]},
                                  0.7), pd.DataFrame({"task_id": ["bl-d1"], "plan": ["a\nb\n"]}), REFERENCE, 0),
}
COLLAPSED = {  # filter=none: trained on whatever came out, the model repeats one plan, sharply, and forgets
    1: HEALTHY[1],
    2: monitor_values(_deployment(2, {"bl-d1": ["a\nb\n"] * 3, "fe-d2": ["c\nd\n", None]}, 0.1),
                      pd.DataFrame({"task_id": ["bl-d1", "fe-d2"], "plan": ["a\nb\n", "c\nd\n"]}), REFERENCE, 3),
}


def test_monitors_in_the_report_and_their_warnings(run_root: Path, tmp_path: Path):
    _with_monitors(run_root, HEALTHY)
    data = write_report(run_root, tmp_path / "healthy")
    mon = data["monitors"]
    assert mon["thresholds"] == {"distinct_min_ratio": 0.5, "entropy_min_ratio": 0.5, "lost_max_share": 0.25,
                                 "self_copy_max": 0.9}
    assert mon["generations"]["1"]["distinct_valid_plans_per_task"] == 2.5
    assert mon["generations"]["2"]["self_copy_share"] == pytest.approx(0.2)  # 1 of 5 valid repeats (bl-d1, a b)
    assert all(not g["alarms"] for g in mon["generations"].values())
    md = (tmp_path / "healthy" / "summary.md").read_text()
    assert "## Collapse monitors" in md and "](monitors.png)" in md
    assert "| gen_002 | 2.50 | 1.00 | 0.700 | 0.20 | 0 (0%) | – |" in md

    ablation = make_run(tmp_path / "filter-none", GREEDY)
    _with_monitors(ablation, COLLAPSED)
    data = write_report(ablation, tmp_path / "collapsed")
    tripped = data["monitors"]["generations"]["2"]["alarms"]
    assert set(tripped) == {"distinct_plans", "entropy", "lost_tasks", "self_copy"}
    assert tripped["lost_tasks"] == "lost 3 of the 5 test tasks generation 1 solved (> 25%)"
    assert data["monitors"]["generations"]["1"]["alarms"] == {}
    assert "token entropy 0.100 nats < 0.5 x generation 1's 0.800" in (tmp_path / "collapsed" / "summary.md").read_text()
    table = monitors_table([{"generation": 0, "solved": 3, "monitors": {}},
                            {"generation": 1, "solved": 5, "monitors": COLLAPSED[1]},
                            {"generation": 2, "solved": 7, "monitors": COLLAPSED[2]}])
    assert table.loc[2, "alarms"] == "distinct_plans,entropy,lost_tasks,self_copy"
    assert table.loc[2, "lost_share"] == pytest.approx(3 / 5)
    with Image.open(tmp_path / "collapsed" / "monitors.png") as img:
        assert img.format == "PNG"


def test_a_run_without_monitors_reports_none(run_root: Path, tmp_path: Path):
    data = write_report(run_root, tmp_path / "out")  # metrics.json written before the monitors existed
    assert data["monitors"]["generations"]["2"]["token_entropy"] is None
    assert data["monitors"]["generations"]["2"]["alarms"] == {}


def _grpo_log(root: Path, solved: list[int], per_point: int) -> Path:
    folder = root / "runs-grpo"
    checkpoints = [{"generation": i, "solved": n, "tasks": 8, "step": 3 * i, "samples": per_point * i,
                    "wall_s": 10.0 * i} for i, n in enumerate(solved)]
    steps = [{"step": s, "samples_total": s * per_point // 3, "reward_mean": 0.1 * s, "loss": -0.01}
             for s in range(1, 3 * (len(solved) - 1) + 1)]
    write_json(folder / "log.json", {"params": {"grpo": {"group_size": 2, "prompts_per_step": 1}},
                                     "checkpoints": checkpoints, "steps": steps})
    return folder


def test_rl_view_success_probabilities_weights_and_the_grpo_comparison(run_root: Path, tmp_path: Path):
    grpo = _grpo_log(tmp_path, [3, 4, 4], per_point=4)
    data = write_rl_view(run_root, tmp_path / "out", grpo_dir=grpo)
    # DEPLOY: gen 1 bl-d1 1/2 valid, fe-d2 0/1; gen 2 bl-d1 1/1, fe-d2 1/1, fe-d3 1/2
    exp = {(r["generation"], r["domain"]): r for r in data["expected_reward"]}
    assert exp[(1, "total")]["reward"] == pytest.approx((0.5 + 0) / 2)
    assert exp[(2, "total")]["reward"] == pytest.approx((1 + 1 + 0.5) / 3) and exp[(2, "total")]["policy"] == 1
    # D_2 keeps gen 1's 5-step bl-d1 (shorter than gen 2's), adds fe-d2 and fe-d3 from gen 2
    w = {(r["generation"], r["origin_generation"]): r for r in data["weights"]}
    assert w[(2, 1)]["plans"] == 1 and w[(2, 1)]["share"] == pytest.approx(1 / 3) and w[(2, 1)]["staleness"] == 1
    assert w[(2, 1)]["mean_weight"] == pytest.approx(2.0)  # bl-d1 had p = 1/2 under policy 0
    assert w[(2, 2)]["mean_weight"] == pytest.approx((1 + 2) / 2)  # fe-d2 p = 1, fe-d3 p = 1/2
    # the loop's budget: every deployment sample (3 in gen 1, 4 in gen 2) against GRPO's, side by side
    rows = {r["point"]: r for r in data["comparison"]}
    assert [rows[p]["loop_samples"] for p in (0, 1, 2)] == [0, 3, 7]
    assert [rows[p]["loop_solved"] for p in (0, 1, 2)] == [3, 5, 7]
    assert [rows[p]["grpo_solved"] for p in (0, 1, 2)] == [3, 4, 4]
    assert rows[2]["loop_wall_s"] is None  # no timings.json in a hand-made run: no seconds, not zero
    md = (tmp_path / "out" / "rl_view.md").read_text()
    assert "| 2 | 7 | 7/8 | – | 8 | 4/8 | 20 |" in md
    assert "| gen_002 | gen 1 (policy 0) | 1 | 0.33 | 1 | 0.50 | 2.00 |" in md
    for name in (*RL_FIGURES, "grpo_vs_loop.png"):
        assert f"]({name})" in md
        with Image.open(tmp_path / "out" / name) as img:
            assert img.format == "PNG" and img.size[0] > 300
    assert json.loads((tmp_path / "out" / "rl_view.json").read_text()) == data


def test_report_writes_the_rl_view_and_finds_the_grpo_run(run_root: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    assert main(["report", "--root", str(run_root), "--out", str(out)]) == 0
    md = (out / "rl_view.md").read_text()
    assert "](rl_view.md)" in (out / "summary.md").read_text()
    assert "GRPO" not in md.split("## The weights")[1] and not (out / "grpo_vs_loop.png").exists()
    # one row per deployment task, sorted by domain and size: policy 0 (gen 1's samples) bl-d1 1 of 2 valid,
    # fe-d2 0 of 1, fe-d3 not deployed yet
    rows = [line for line in md.splitlines() if line.startswith(("| blocksworld | 3 | ", "| ferry | 3 | "))
            and line.split(" | ")[2].startswith(("bl-", "fe-"))]
    assert rows == ["| blocksworld | 3 | bl-d1 | 1/2 | 1/1 |", "| ferry | 3 | fe-d2 | 0/1 | 1/1 |",
                    "| ferry | 3 | fe-d3 | – | 1/2 |"]
    # the GRPO run grpo/params.yaml names is found by itself
    grpo = _grpo_log(run_root, [3, 3, 6], per_point=4)
    (run_root / "grpo").mkdir()
    (run_root / "grpo" / "params.yaml").write_text((REPO / "grpo" / "params.yaml").read_text())
    assert main(["report", "--root", str(run_root), "--out", str(out)]) == 0
    assert "budget point 2: loop 7 solved after 7 plans, GRPO 6 after 8" in capsys.readouterr().out
    assert (out / "grpo_vs_loop.png").is_file() and "](grpo_vs_loop.png)" in (out / "rl_view.md").read_text()
    (grpo / "log.json").write_text("[]")
    assert main(["report", "--root", str(run_root), "--out", str(out), "--grpo", str(grpo)]) == 2
    assert "not a GRPO run log" in capsys.readouterr().err
