"""Asset checks: the curated dataset follows its curation rule and is not empty (ERROR; the stage itself
refuses to write a dataset that breaks the rule, the check reports it); a generation's evaluation is
not worse than the previous one's (WARN)."""


import dagster as dg

from iterdeploy import curation
from iterdeploy.artifacts import read_json, read_parquet
from iterdeploy.evaluation import not_worse
from iterdeploy.pipeline.layout import Layout, stage_name
from iterdeploy.pipeline.params import LoopParams

from .assets import asset_key
from .resources import IterdeployResource


def curated_check(gen: int) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset_key(stage_name(gen, "curated_dataset")), name="follows_curation_rule",
                    blocking=False, description="The curated dataset has rows and follows the configured rule "
                                                "(valid plans only, one per task, no repeats).")
    def _check(iterdeploy: IterdeployResource) -> dg.AssetCheckResult:
        params = iterdeploy.params()
        df = read_parquet(iterdeploy.root / Layout.of(params).curated(gen), "curated dataset")
        problems = curation.rule_violations(df, params.curation)
        if not len(df):
            problems.append("no plans: generation g's model is the previous one carried forward")
        return dg.AssetCheckResult(
            passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"rows": len(df), "tasks": int(df["task_id"].nunique()) if len(df) else 0,
                      "invalid": int((~df["valid"]).sum()) if len(df) else 0},
            description="; ".join(problems) or None,
        )

    return _check


def evaluation_check(gen: int) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset_key(stage_name(gen, "evaluation")), name="not_worse_than_previous", blocking=False,
                    description="Solved test tasks (greedy) are at least generation g-1's.")
    def _check(iterdeploy: IterdeployResource) -> dg.AssetCheckResult:
        lay = Layout.of(iterdeploy.params())
        now = read_json(iterdeploy.root / lay.metrics(gen), "metrics")
        before = read_json(iterdeploy.root / lay.metrics(gen - 1), "metrics")
        ok, why = not_worse(now, before)
        return dg.AssetCheckResult(passed=ok, severity=dg.AssetCheckSeverity.WARN, description=why,
                                   metadata={"solved": now.get("solved") or 0, "previous_solved": before.get("solved") or 0})

    return _check


def build_checks(params: LoopParams) -> list[dg.AssetChecksDefinition]:
    checks = []
    for g in params.gens:
        checks += [curated_check(g), evaluation_check(g)]
    return checks
