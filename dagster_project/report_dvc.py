"""Report what DVC made to the Dagster instance, so that the UI shows one history whichever tool ran a stage.

    python -m dagster_project.report_dvc --root DIR [--params params.yaml]

For the task set (data.dvc) and every stage in dvc.lock whose outputs on disk are the bytes dvc.lock
records, one runless materialization of its asset with the metadata a Dagster run records (the DVC
md5s, the artifact's counts, the plot), the same data version, and the provenance Dagster would record
(the data versions of its upstream assets), in dependency order, followed by the stage's asset check
(follows_curation_rule, not_worse_than_previous) evaluated on those files. A stage whose dvc.lock entry is the
one its asset's latest materialization already describes (a Dagster run that committed it, or an
earlier report) is not reported again, so a re-run with nothing to do reports nothing. Stages missing
from dvc.lock, or whose outputs differ from it, are not reported (and are listed).

The instance is $DAGSTER_HOME if set, else the project's .dagster/ (telemetry off). `iterdeploy run`
calls this at its end when Dagster is installed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = "dvc repro"
"""The `reported_by` metadata of a reported materialization."""


@dataclass
class Report:
    home: Path
    reported: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    """Already described by the asset's latest materialization."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Stage -> why it was not reported."""

    def line(self) -> str:
        parts = [f"reported {len(self.reported)} DVC stage(s) to the Dagster instance {self.home}",
                 f"{len(self.current)} already recorded"]
        by_reason: dict[str, list[str]] = {}
        for name, why in self.skipped.items():
            by_reason.setdefault(why, []).append(name)
        for why, names in by_reason.items():
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            parts.append(f"not reported ({why}): {shown}")
        return "; ".join(parts)


def _latest(instance, key):
    """(data version, storage id, metadata) of the asset's latest materialization, or None."""
    from dagster._core.definitions.data_version import extract_data_version_from_entry

    records = instance.fetch_materializations(key, limit=1).records
    if not records:
        return None
    rec = records[0]
    mat = rec.event_log_entry.asset_materialization
    return extract_data_version_from_entry(rec.event_log_entry), rec.storage_id, (mat.metadata if mat else {})


def _provenance_tags(instance, parents, code_version: str, version) -> dict[str, str]:
    """The tags a Dagster run writes on a materialization (dagster._core.execution.plan.execute_step):
    code version, each upstream asset's current data version and event, the data version."""
    from dagster._core.definitions.data_version import (
        CODE_VERSION_TAG, DATA_VERSION_IS_USER_PROVIDED_TAG, DATA_VERSION_TAG, DEFAULT_DATA_VERSION,
        NULL_EVENT_POINTER, get_input_data_version_tag, get_input_event_pointer_tag)

    tags = {CODE_VERSION_TAG: code_version}
    for key in parents:
        latest = _latest(instance, key)
        parent_version, storage_id = (latest[0], latest[1]) if latest else (None, None)
        tags[get_input_data_version_tag(key)] = (parent_version or DEFAULT_DATA_VERSION).value
        tags[get_input_event_pointer_tag(key)] = str(storage_id) if storage_id else NULL_EVENT_POINTER
    if version is not None:
        tags[DATA_VERSION_TAG] = version.value
        tags[DATA_VERSION_IS_USER_PROVIDED_TAG] = "true"
    return tags


def _report_check(instance, root: Path, params, stage, asset) -> None:
    """The stage's asset checks (defs/checks.py), evaluated on the artifact DVC made, against the materialization
    just reported, as a Dagster run evaluates it after materializing."""
    import dagster as dg
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData)

    from dagster_project.defs.checks import CHECKS
    from iterdeploy.errors import IterdeployError

    record = instance.fetch_materializations(asset, limit=1).records[0]
    target = AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp)
    for name, outcome in CHECKS[stage.artifact.name]:
        try:
            result = outcome(root, params, stage.gen)
        except IterdeployError:
            continue  # an input of the check is missing: the check stays "not evaluated"
        instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=asset, check_name=name, target_materialization_data=target, **result))


def _recorded_key(latest, name: str = "dvc_lock") -> str | None:
    if not latest:
        return None
    value = latest[2].get(name)
    return getattr(value, "value", value)


def report(root: str | Path, params_file: str = "params.yaml", instance=None) -> Report:
    """Report the DVC-made artifacts of the project at `root` (see the module docstring)."""
    import dagster as dg

    from dagster_project.defs.assets import TASKSET_KEY, asset_key, dagster_upstream, shared_ancestors
    from dagster_project.defs.checks import CHECKS
    from dagster_project.defs.events import (data_version, describe, dvc_metadata, lock_key, ordered, plot_metadata,
                                             shared_md5s)
    from dagster_project.instance import instance_home, open_instance
    from iterdeploy.pipeline import dvc
    from iterdeploy.pipeline.layout import DATA_DVC, Layout
    from iterdeploy.pipeline.params import load_params
    from iterdeploy.pipeline.registry import pipeline

    root = Path(root).resolve()
    params = load_params(root / params_file)
    lay = Layout.of(params)
    lock = dvc.read_lock(root)
    pin = dvc.read_pin(root)
    owned = instance is None
    if owned:
        instance = open_instance(root)
    out = Report(home=instance_home(root) if owned else Path(instance.root_directory))
    try:
        # The task set: data.dvc's pin, if data/ holds it.
        taskset_md5 = pin.get("md5")
        latest = _latest(instance, TASKSET_KEY)
        if not taskset_md5:
            out.skipped["taskset"] = f"no {DATA_DVC}"
        elif dvc.md5(root / lay.pinned_dir) != taskset_md5:
            out.skipped["taskset"] = f"{lay.pinned_dir}/ differs from {DATA_DVC}"
        elif _recorded_key(latest, "dvc_md5") == taskset_md5:
            out.current.append("taskset")
        else:
            md = {"reported_by": dg.MetadataValue.text(SOURCE), "dvc_stage": dg.MetadataValue.text(DATA_DVC),
                  "dvc_md5": dg.MetadataValue.text(taskset_md5), "path": dg.MetadataValue.path(str(root / lay.tasks))}
            version = dg.DataVersion(taskset_md5)
            instance.report_runless_asset_event(dg.AssetMaterialization(
                asset_key=TASKSET_KEY, metadata=md,
                tags=_provenance_tags(instance, [], f"dvc:{taskset_md5}", version)))
            out.reported.append("taskset")

        stages = pipeline(params)
        upstream = dagster_upstream(stages)
        shared = shared_ancestors(stages)
        for stage in stages:
            key = lock_key(lock, stage.name)
            if key is None:
                out.skipped[stage.name] = "not in dvc.lock"
                continue
            hashes = dvc.locked_outs(lock, stage.name)
            differs = [p for p, h in hashes.items() if not (root / p).exists() or dvc.md5(root / p) != h]
            if differs:
                out.skipped[stage.name] = f"{differs[0]} differs from dvc.lock"
                continue
            asset = asset_key(stage.name)
            if _recorded_key(_latest(instance, asset)) == key:
                out.current.append(stage.name)
                continue
            md = describe(root, params, stage)
            md.update(dvc_metadata(lock, stage))
            md["reported_by"] = dg.MetadataValue.text(SOURCE)
            if stage.artifact.name == "evaluation":
                md.update(plot_metadata(instance, root / lay.progress(stage.gen)))
            version = data_version(hashes, shared_md5s(root, lock, shared[stage.name]))
            tags = _provenance_tags(instance, [asset_key(u) for u in upstream[stage.name]], f"dvc:{key}", version)
            instance.report_runless_asset_event(dg.AssetMaterialization(
                asset_key=asset, metadata=ordered(md), tags=tags,
                description=f"DVC stage {stage.name} ({stage.cmd}), reported from dvc.lock"))
            out.reported.append(stage.name)
            if stage.artifact.name in CHECKS and stage.gen >= 1:
                _report_check(instance, root, params, stage, asset)
    finally:
        if owned:
            instance.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dagster_project.report_dvc",
        description="Report the stages DVC ran (or restored from its cache) to the Dagster instance "
                    "($DAGSTER_HOME, else <root>/.dagster) as materializations of their assets.")
    parser.add_argument("--root", default=".", metavar="DIR", help="project root (default: .)")
    parser.add_argument("--params", default="params.yaml", metavar="FILE",
                        help="parameters file, relative to the root (default: params.yaml)")
    args = parser.parse_args(argv)
    from iterdeploy.errors import IterdeployError

    try:
        result = report(args.root, args.params)
    except IterdeployError as exc:
        print(f"report_dvc: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the instance (its settings, a locked or corrupt database...): one line, no traceback
        import yaml
        from dagster import DagsterInvalidConfigError

        from dagster_project.instance import instance_home

        where = instance_home(args.root)
        if isinstance(exc, (yaml.YAMLError, DagsterInvalidConfigError)):
            where = where / "dagster.yaml"
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"report_dvc: {where}: {type(exc).__name__}: {first}", file=sys.stderr)
        return 2
    print(f"[dagster] {result.line()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
