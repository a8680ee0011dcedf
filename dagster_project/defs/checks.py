"""Asset checks: the curated dataset is non-empty and all valid (ERROR); a generation's evaluation is
not worse than the previous one's (WARN)."""


import json

import dagster as dg
import pandas as pd

from iterdeploy.config import Params
from iterdeploy.evaluation import not_worse, primary_rate
from iterdeploy.layout import Layout

from .assets import asset_key
from .resources import IterdeployResource


def curated_check(gen: int, params: Params) -> dg.AssetChecksDefinition:
    key = asset_key(f"gen_{gen:03d}-curated_dataset")

    @dg.asset_check(asset=key, name="non_empty_and_valid", blocking=False,
                    description="The curated dataset has rows and every plan in it is valid.")
    def _check(iterdeploy: IterdeployResource) -> dg.AssetCheckResult:
        df = pd.read_parquet(iterdeploy.root / Layout(iterdeploy.params()).curated(gen))
        invalid = int((~df["valid"]).sum())
        return dg.AssetCheckResult(
            passed=bool(len(df) > 0 and invalid == 0), severity=dg.AssetCheckSeverity.ERROR,
            metadata={"rows": len(df), "tasks": int(df["task_id"].nunique()), "invalid": invalid},
            description=None if len(df) else "no plans: generation g's model is trained on nothing new",
        )

    return _check


def evaluation_check(gen: int, params: Params) -> dg.AssetChecksDefinition:
    key = asset_key(f"gen_{gen:03d}-evaluation")

    @dg.asset_check(asset=key, name="not_worse_than_previous", blocking=False,
                    description="The headline solved fraction (greedy, else pass@k) is at least generation g-1's.")
    def _check(iterdeploy: IterdeployResource) -> dg.AssetCheckResult:
        lay = Layout(iterdeploy.params())
        now = json.loads((iterdeploy.root / lay.metrics(gen)).read_text())
        before = json.loads((iterdeploy.root / lay.metrics(gen - 1)).read_text())
        ok, why = not_worse(now, before)
        return dg.AssetCheckResult(
            passed=ok, severity=dg.AssetCheckSeverity.WARN, description=why,
            metadata={"solved": primary_rate(now) or 0.0, "previous_solved": primary_rate(before) or 0.0},
        )

    return _check


def build_checks(params: Params) -> list[dg.AssetChecksDefinition]:
    checks = []
    for g in params.gens:
        checks += [curated_check(g, params), evaluation_check(g, params)]
    return checks
