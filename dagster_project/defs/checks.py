"""Asset checks: the curated dataset follows its curation rule and is not empty (ERROR; the stage itself
refuses to write a dataset that breaks the rule, the check reports it); a generation's evaluation is
not worse than the previous one's (WARN).

Each check is a plain function of the project's files (`CHECKS`), so that a DVC run reported to the
instance (dagster_project/report_dvc.py) records the same check results a Dagster run does."""

from pathlib import Path

import dagster as dg

from iterdeploy import curation
from iterdeploy.artifacts import read_json, read_parquet
from iterdeploy.evaluation import not_worse
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


CHECKS = {"curated_dataset": (CURATED_CHECK, curated_outcome), "evaluation": (EVALUATION_CHECK, evaluation_outcome)}
"""Artifact name -> (check name, outcome function), for generations 1..N."""


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


def build_checks(params: LoopParams) -> list[dg.AssetChecksDefinition]:
    checks = []
    for g in params.gens:
        checks += [curated_check(g), evaluation_check(g)]
    return checks
