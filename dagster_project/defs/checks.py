"""Asset checks: the curated dataset follows its curation rule and is not empty (ERROR; the stage itself
refuses to write a dataset that breaks the rule, the check reports it); a generation's evaluation is
not worse than the previous one's (WARN); and the collapse monitors of its metrics.json stay within the
thresholds of params.yaml `monitors` (WARN, one check per warning of iterdeploy.monitors.alarms:
distinct plans per task falling, entropy collapsing against generation 1's, lost test tasks above a share
of the previously solved, self-copy share near 1).

Each check is a plain function of the project's files (`CHECKS`), so that a DVC run reported to the
instance (dagster_project/report_dvc.py) records the same check results a Dagster run does."""

from pathlib import Path

import dagster as dg

from iterdeploy import curation
from iterdeploy.artifacts import read_json, read_parquet
from iterdeploy.evaluation import not_worse
from iterdeploy.monitors import ALARMS, alarms
from iterdeploy.pipeline.layout import Layout, stage_name
from iterdeploy.pipeline.params import LoopParams

from .assets import asset_key
from .resources import IterdeployResource

CURATED_CHECK = "follows_curation_rule"
EVALUATION_CHECK = "not_worse_than_previous"


def curated_outcome(root: Path, params: LoopParams, gen: int) -> dict:
    df = read_parquet(root / Layout.of(params).curated(gen), "curated dataset")
    problems = curation.rule_violations(df, params.curation)
    if not len(df):
        problems.append("no plans: generation g's model is the previous one carried forward")
    return dict(passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
                metadata={"rows": len(df), "tasks": int(df["task_id"].nunique()) if len(df) else 0,
                          "invalid": int((~df["valid"]).sum()) if len(df) else 0},
                description="; ".join(problems) or None)


def evaluation_outcome(root: Path, params: LoopParams, gen: int) -> dict:
    lay = Layout.of(params)
    now = read_json(root / lay.metrics(gen), "metrics")
    before = read_json(root / lay.metrics(gen - 1), "metrics")
    ok, why = not_worse(now, before)
    return dict(passed=ok, severity=dg.AssetCheckSeverity.WARN, description=why,
                metadata={"solved": now.get("solved") or 0, "previous_solved": before.get("solved") or 0})


MONITOR_CHECKS = {a: f"monitor_{a}" for a in ALARMS}
"""Warning (iterdeploy.monitors.ALARMS) -> the name of its asset check on every evaluation g >= 1."""
MONITOR_DESCRIPTIONS = {
    "distinct_plans": "Distinct valid plans per solved deployment task stay above monitors.distinct_min_ratio x "
                      "generation 1's.",
    "entropy": "Per-token entropy of the deployment samples stays above monitors.entropy_min_ratio x generation 1's.",
    "lost_tasks": "At most monitors.lost_max_share of the test tasks the previous generation solved are lost.",
    "self_copy": "Less than monitors.self_copy_max of the valid deployment samples repeat a curated plan.",
}


def monitor_outcome(alarm: str):
    """The outcome function of one collapse warning: reads metrics.json of generations 0..g."""
    def outcome(root: Path, params: LoopParams, gen: int) -> dict:
        lay = Layout.of(params)
        history = []
        for g in range(gen + 1):
            m = read_json(root / lay.metrics(g), "metrics")
            history.append({"generation": g, "solved": m.get("solved"), "monitors": m.get("monitors") or {}})
        why = alarms(history, params.monitors)[gen][alarm]
        values = {k: v for k, v in history[gen]["monitors"].items() if isinstance(v, (int, float))}
        return dict(passed=why is None, severity=dg.AssetCheckSeverity.WARN,
                    description=why or "within the threshold", metadata=values)

    return outcome


CHECKS = {"curated_dataset": [(CURATED_CHECK, curated_outcome)],
          "evaluation": [(EVALUATION_CHECK, evaluation_outcome)]
          + [(MONITOR_CHECKS[a], monitor_outcome(a)) for a in ALARMS]}
"""Artifact name -> its checks, (check name, outcome function) each, for generations 1..N."""


def curated_check(gen: int) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset_key(stage_name(gen, "curated_dataset")), name=CURATED_CHECK,
                    blocking=False, description="The curated dataset has rows and follows the configured rule "
                                                "(valid plans only, one per task, no repeats).")
    def _check(iterdeploy: IterdeployResource) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(**curated_outcome(iterdeploy.root, iterdeploy.params(), gen))

    return _check


def evaluation_check(gen: int) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset_key(stage_name(gen, "evaluation")), name=EVALUATION_CHECK, blocking=False,
                    description="Solved test tasks (greedy) are at least generation g-1's.")
    def _check(iterdeploy: IterdeployResource) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(**evaluation_outcome(iterdeploy.root, iterdeploy.params(), gen))

    return _check


def monitor_check(gen: int, alarm: str) -> dg.AssetChecksDefinition:
    outcome = monitor_outcome(alarm)

    @dg.asset_check(asset=asset_key(stage_name(gen, "evaluation")), name=MONITOR_CHECKS[alarm], blocking=False,
                    description=MONITOR_DESCRIPTIONS[alarm])
    def _check(iterdeploy: IterdeployResource) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(**outcome(iterdeploy.root, iterdeploy.params(), gen))

    return _check


def build_checks(params: LoopParams) -> list[dg.AssetChecksDefinition]:
    checks = []
    for g in params.gens:
        checks += [curated_check(g), evaluation_check(g)] + [monitor_check(g, a) for a in ALARMS]
    return checks
