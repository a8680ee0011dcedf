"""What a materialization of a stage's asset records, whichever tool made the artifact: the metadata
read from the artifact's files, the DVC hashes, the data version, and the evaluation plot.

A Dagster run (defs/assets.py) and a DVC run reported afterwards (dagster_project/report_dvc.py) build
their events from these functions, so the UI shows the same fields for both and one history per asset.

Data versions. An artifact's data version is its DVC md5 (of all its outputs), tagged with the md5s of the
shared inputs it descends from, the task set and the base model (`<md5>@<12 hex of their md5s>`):
identical bytes made from the same shared inputs keep their version, as DVC keeps them, and a new task
set or base model gives every artifact below it a new version when it is re-made, so staleness reaches
every stage that reads them even where the graph draws them into the first reader of a generation only
(assets.dagster_upstream, docs/pipeline.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import dagster as dg

from iterdeploy.pipeline import dvc
from iterdeploy.pipeline.context import BASE_REFERENCE
from iterdeploy.pipeline.layout import Layout

DVC_LOCK_KEY = "dvc_lock"
"""Metadata key: the hash of the stage's dvc.lock entry (deps, params, outs) the event describes."""

PLOT_LOG_KEY = ("iterdeploy", "plots")
"""Where plots are published in the instance's compute-log storage, which the webserver serves at /logs/."""


def metadata_value(v) -> dg.MetadataValue:
    if v is None:
        return dg.MetadataValue.text("-")
    if isinstance(v, bool):
        return dg.MetadataValue.bool(v)
    if isinstance(v, int):
        return dg.MetadataValue.int(v)
    if isinstance(v, float):
        return dg.MetadataValue.float(v)
    if isinstance(v, (dict, list)):
        return dg.MetadataValue.json(v)
    return dg.MetadataValue.text(str(v))


def lock_key(lock: dict, stage_name: str) -> str | None:
    """A short hash of the stage's dvc.lock entry (its deps' and outs' md5s and its params): the same DVC
    run of the stage gives the same key; None when dvc.lock has no entry for it."""
    entry = lock.get(stage_name)
    if not isinstance(entry, dict) or not entry.get("outs"):
        return None
    def pairs(section: str) -> list:
        return sorted(((e.get("path"), e.get("md5")) for e in entry.get(section) or [] if isinstance(e, dict)), key=str)

    canonical = {"deps": pairs("deps"), "outs": pairs("outs"), "params": entry.get("params") or {}}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()[:16]


def content_md5(hashes: dict[str, str | None]) -> str | None:
    """One md5 for a stage's outputs: the output's own md5, or for several outputs the md5 of their list."""
    if not hashes or any(v is None for v in hashes.values()):
        return None
    if len(hashes) == 1:
        return next(iter(hashes.values()))
    return hashlib.md5(json.dumps(sorted(hashes.items())).encode(), usedforsecurity=False).hexdigest()


def shared_md5s(root: Path, lock: dict, shared: tuple[str, ...]) -> list[str | None]:
    """The current md5s of these shared inputs: the task set's from data.dvc, a stage's from dvc.lock."""
    from iterdeploy.pipeline.registry import TASKSET

    out = []
    for name in shared:
        if name == TASKSET:
            out.append(dvc.read_pin(root).get("md5"))
        else:
            out.append(content_md5(dvc.locked_outs(lock, name)))
    return out


def data_version(hashes: dict[str, str | None], shared: list[str | None] = ()) -> dg.DataVersion | None:
    """The data version of an artifact with these output md5s, made from shared inputs with these md5s
    (see the module docstring); None if an md5 is unknown."""
    md5 = content_md5(hashes)
    if md5 is None or any(h is None for h in shared):
        return None
    if not shared:
        return dg.DataVersion(md5)
    tag = hashlib.md5("|".join(shared).encode(), usedforsecurity=False).hexdigest()[:12]
    return dg.DataVersion(f"{md5}@{tag}")


def dvc_metadata(lock: dict, stage) -> dict[str, dg.MetadataValue]:
    """dvc_stage, dvc_md5 (the first output), dvc_md5_all (every output, when there are several), dvc_lock."""
    hashes = dvc.locked_outs(lock, stage.name)
    md = {"dvc_stage": dg.MetadataValue.text(stage.name),
          "dvc_md5": dg.MetadataValue.text(hashes.get(stage.all_outs[0]) or "-")}
    if len(hashes) > 1:
        md["dvc_md5_all"] = dg.MetadataValue.json(hashes)
    key = lock_key(lock, stage.name)
    if key:
        md[DVC_LOCK_KEY] = dg.MetadataValue.text(key)
    return md


FIRST = ("reported_by", "dvc_stage", "dvc_md5", "path", "plot")
LAST = ("plot_file", "dvc_md5_all", DVC_LOCK_KEY)


def ordered(md: dict[str, dg.MetadataValue]) -> dict[str, dg.MetadataValue]:
    """Metadata in the order the UI lists it: who made it and its hash, its file and plot, its numbers, the
    remaining hashes."""
    head = [k for k in FIRST if k in md]
    tail = [k for k in LAST if k in md]
    return {k: md[k] for k in head + [k for k in md if k not in head and k not in tail] + tail}


def _parquet_rows(path: Path) -> int | None:
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, ValueError):
        return None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(root: Path, params, stage) -> dict[str, dg.MetadataValue]:
    """Metadata read from the artifact's files: its path, rows of its table, the evaluation's headline
    numbers (metrics.json), the model card's training summary, and the stage's time when timings.json
    records it for these very bytes."""
    lay = Layout.of(params)
    first = root / stage.all_outs[0]
    md: dict[str, dg.MetadataValue] = {"path": dg.MetadataValue.path(str(first))}
    if first.suffix == ".parquet" and first.is_file():
        rows = _parquet_rows(first)
        if rows is not None:
            md["rows"] = dg.MetadataValue.int(rows)
    name = stage.artifact.name
    if name == "evaluation":
        md.update({k: metadata_value(v) for k, v in _read_json(root / lay.metrics(stage.gen)).items()})
    elif name == "checkpoint":
        card = _read_json(first / "model_card.json")
        if card:
            md["kind"] = metadata_value(card.get("kind"))
            for k in ("steps", "final_loss", "train_tokens"):
                if k in card:
                    md[k] = metadata_value(card[k])
            examples = (card.get("dataset") or {}).get("examples")
            if examples is not None:
                md["examples"] = metadata_value(examples)
        reference = _read_json(first / BASE_REFERENCE)
        if reference:
            md["base_model"] = metadata_value(reference)
    timing = _read_json(root / lay.timings(stage.gen)).get(name)
    if isinstance(timing, dict) and "seconds" in timing and first.exists() and timing.get("md5") == dvc.md5(first):
        md["seconds"] = metadata_value(timing["seconds"])
    return md


PLOT_WIDTH = 600
"""Pixels: the preview's width, what the asset page's metadata column shows unscrolled in a 1600-pixel window."""


def plot_metadata(instance, png: Path) -> dict[str, dg.MetadataValue]:
    """The plot as an image the asset page shows inline. Dagster's UI renders a Markdown value in place only
    when it is under 1,000 characters (a longer one, such as a base64 image, hides behind "[Show Markdown]")
    and strips HTML, so the image must be a short link, drawn at its natural size: a PLOT_WIDTH-pixel
    preview of the PNG, named by the PNG's md5, is written into the instance's compute-log storage, which
    the webserver serves at /logs/. An instance with another log storage gets the base64 image (behind
    the button). Also `plot_file`, the full-size PNG."""
    if not png.is_file():
        return {}
    from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

    manager = getattr(instance, "compute_log_manager", None)
    if isinstance(manager, LocalComputeLogManager):
        log_key = [*PLOT_LOG_KEY, f"{dvc.file_md5(png)}-w{PLOT_WIDTH}"]
        target = Path(manager.get_captured_local_path(log_key, "png"))
        if not target.is_file():
            from PIL import Image

            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(png) as im:
                height = max(1, round(im.size[1] * PLOT_WIDTH / im.size[0]))
                small = im.resize((PLOT_WIDTH, height), Image.LANCZOS) if im.size[0] > PLOT_WIDTH else im.copy()
            tmp = target.with_name(target.name + ".tmp")
            small.save(tmp, format="PNG")
            tmp.replace(target)
        plot = dg.MetadataValue.md(f"![progress across generations](/logs/{'/'.join(log_key)}/png)")
    else:
        data = base64.b64encode(png.read_bytes()).decode()
        plot = dg.MetadataValue.md(f"![progress across generations](data:image/png;base64,{data})")
    return {"plot": plot, "plot_file": dg.MetadataValue.path(str(png))}
