"""Lineage: which artifact came from which, with the content hashes DVC recorded.

Per generation g the chain is

    checkpoint(g-1) -> samples(g) -> validated_plans(g) -> curated_dataset(g) -> checkpoint(g) -> evaluation(g)

and each link shows the md5 that dvc.lock records for the artifact, and whether the
consumer's recorded input hash equals the producer's recorded output hash (the
lock is consistent) and the file on disk still exists. For one task, `task_lineage`
says in which generation it was first solved and where each of its training plans
came from (generation, sample id, model hash).

Reads dvc.lock, data.dvc and the Parquet artifacts; never runs anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from iterdeploy.config import Params
from iterdeploy.dvc import read_lock, read_pin
from iterdeploy.layout import ARTIFACTS, TASKSET, Layout, stage_name


def _lock(root: Path) -> dict:
    return read_lock(root).get("stages", {}) or {}


def _entry(entries: list | None, path: str) -> dict | None:
    for e in entries or []:
        if e.get("path") == path:
            return e
    return None


def _md5(lock: dict, stage: str, path: str, kind: str = "outs") -> str | None:
    e = _entry(lock.get(stage, {}).get(kind), path)
    return None if e is None else e.get("md5")


def _artifact_node(root: Path, layout: Layout, lock: dict, gen: int, artifact: str) -> dict:
    stage = layout.stage(gen, artifact)
    files = []
    for path in stage.all_outs:
        files.append({"path": path, "md5": _md5(lock, stage.name, path), "exists": (root / path).exists()})
    main = files[0]
    return {"gen": gen, "artifact": artifact, "stage": stage.name, "path": main["path"], "md5": main["md5"],
            "exists": all(f["exists"] for f in files), "in_lock": stage.name in lock, "files": files}


def _links_ok(layout: Layout, lock: dict, stage_names: list[str]) -> list[dict]:
    """For each dep of the given stages, whether the hash the consumer recorded equals the producer's."""
    producers = {}
    for s in layout.stages():
        for p in s.all_outs:
            producers[p] = s.name
    problems = []
    for s in layout.stages():
        if s.name not in stage_names or s.name not in lock:
            continue
        for dep in s.deps:
            used = _md5(lock, s.name, dep, "deps")
            if dep == str(layout.tasks):
                made = None  # data/ is pinned as a whole; its subfolder hash is not in data.dvc
            else:
                producer = producers.get(dep)
                made = _md5(lock, producer, dep) if producer else None
            if made is not None and used is not None and made != used:
                problems.append({"stage": s.name, "dep": dep, "recorded": used, "current": made})
    return problems


def pipeline_lineage(root: str | Path, params: Params) -> dict:
    """The whole chain: task set pin, generation 0, then per generation the five artifacts."""
    root = Path(root)
    layout = Layout(params)
    lock = _lock(root)
    pin = read_pin(root)
    out: dict = {
        "taskset": {"path": str(layout.tasks), "pin": "data.dvc", "pinned_path": pin.get("path"),
                    "md5": pin.get("md5"), "exists": (root / layout.tasks).is_dir()},
        "generations": [],
    }
    names = [s.name for s in layout.stages()]
    g0 = [_artifact_node(root, layout, lock, 0, a) for a in ("checkpoint", "evaluation")]
    out["generations"].append({"gen": 0, "chain": g0, "metrics": _metrics(root, layout, 0)})
    for g in params.gens:
        chain = [_artifact_node(root, layout, lock, g - 1, "checkpoint")]
        chain += [_artifact_node(root, layout, lock, g, a) for a in ARTIFACTS]
        entry = {"gen": g, "chain": chain, "metrics": _metrics(root, layout, g)}
        cur = root / layout.curated(g)
        if cur.is_file():
            df = pd.read_parquet(cur)
            entry["curated"] = {"rows": int(len(df)), "tasks": int(df["task_id"].nunique()),
                                "by_origin_generation": {str(int(k)): int(v) for k, v in
                                                         df["origin_generation"].value_counts().sort_index().items()}}
        out["generations"].append(entry)
    out["inconsistent_links"] = _links_ok(layout, lock, names)
    out["complete"] = all(n["in_lock"] and n["exists"] for e in out["generations"] for n in e["chain"])
    return out


def _metrics(root: Path, layout: Layout, gen: int) -> dict | None:
    path = root / layout.metrics(gen)
    if not path.is_file():
        return None
    m = json.loads(path.read_text(encoding="utf-8"))
    return {"solved": m.get("solved"), "tasks": m.get("tasks")}


def task_lineage(root: str | Path, params: Params, task_id: str) -> dict:
    """For one task: its split, per generation its samples / evaluation results, the first generation
    that solved it, and every training plan of it with its origin."""
    root = Path(root)
    layout = Layout(params)
    manifest_path = root / layout.tasks / "manifest.parquet"
    info: dict = {"task_id": task_id}
    if manifest_path.is_file():
        man = pd.read_parquet(manifest_path)
        row = man[man["task_id"] == task_id]
        if row.empty:
            raise KeyError(f"task {task_id!r} is not in the task set {layout.tasks}")
        r = row.iloc[0]
        info.update({"domain": str(r["domain"]), "split": str(r["split"]), "size": int(r["size"]),
                     "reference_length": None if pd.isna(r["reference_length"]) else int(r["reference_length"])})
    per_gen = []
    first_solved = None
    training_plans = []
    for g in [0] + params.gens:
        entry: dict = {"gen": g}
        val = root / layout.validated(g) if g > 0 else None
        if val is not None and val.is_file():
            df = pd.read_parquet(val)
            df = df[df["task_id"] == task_id]
            if len(df):
                valid = df[df["valid"]]
                entry["samples"] = {"n": int(len(df)), "valid": int(len(valid)),
                                    "shortest_valid": None if valid.empty else int(valid["plan_length"].min()),
                                    "errors": {str(k): int(v) for k, v in
                                               df["error"].fillna("none").value_counts().sort_index().items()}}
                if len(valid) and first_solved is None:
                    first_solved = {"gen": g, "by": "deployment sample",
                                    "sample_id": str(valid.sort_values("sample_index").iloc[0]["sample_id"])}
        ev = root / layout.evaluation(g)
        if ev.is_file():
            df = pd.read_parquet(ev)
            df = df[df["task_id"] == task_id]
            if len(df):
                greedy = df[df["mode"] == "greedy"]
                samples = df[df["mode"] == "sample"]
                entry["evaluation"] = {"greedy_valid": bool(greedy["valid"].any()) if len(greedy) else None,
                                       "samples": int(len(samples)), "samples_valid": int(samples["valid"].sum())}
                if (df["valid"].any()) and first_solved is None:
                    first_solved = {"gen": g, "by": "evaluation"}
        cur = root / layout.curated(g) if g > 0 else None
        if cur is not None and cur.is_file():
            df = pd.read_parquet(cur)
            df = df[df["task_id"] == task_id]
            entry["training_plans"] = int(len(df))
            for _, r in df.iterrows():
                training_plans.append({
                    "trained_generation": g, "origin_generation": int(r["origin_generation"]),
                    "origin_sample_id": str(r["origin_sample_id"]), "origin_model_hash": str(r["origin_model_hash"]),
                    "plan_length": int(r["plan_length"]), "valid": bool(r["valid"]),
                })
        per_gen.append(entry)
    info.update({"first_solved": first_solved, "generations": per_gen, "training_plans": training_plans})
    return info


# --------------------------------------------------------------------------- text


def _short(md5: str | None) -> str:
    return "(not in dvc.lock)" if not md5 else md5.replace(".dir", "/")[:12]


def format_pipeline(lin: dict) -> str:
    t = lin["taskset"]
    lines = [f"task set  {t['path']}  md5 {_short(t['md5'])} (data.dvc pins {t['pinned_path']})"
             + ("" if t["exists"] else "  MISSING")]
    for e in lin["generations"]:
        m = e.get("metrics") or {}
        solved = m.get("solved") or {}
        rate = " ".join(f"{k}={v:.3f}" for k, v in solved.items() if v is not None)
        extra = ""
        if "curated" in e:
            extra = f"  curated {e['curated']['rows']} plans / {e['curated']['tasks']} tasks"
        lines.append(f"generation {e['gen']}:  {rate or 'not evaluated'}{extra}")
        parts = []
        for n in e["chain"]:
            label = n["artifact"] if n["gen"] == e["gen"] else f"{n['artifact']}({n['gen']})"
            flag = "" if n["exists"] else " MISSING"
            parts.append(f"{label}[{_short(n['md5'])}]{flag}")
        lines.append("  " + " -> ".join(parts))
    if lin["inconsistent_links"]:
        lines.append("inconsistent (an input changed after its consumer ran; `dvc status` lists them):")
        for p in lin["inconsistent_links"]:
            lines.append(f"  {p['stage']}: {p['dep']} recorded {_short(p['recorded'])}, now {_short(p['current'])}")
    lines.append("complete" if lin["complete"] else "incomplete: some stages have not run (or ran outside DVC)")
    return "\n".join(lines) + "\n"


def format_task(info: dict) -> str:
    head = f"task {info['task_id']}"
    if "split" in info:
        head += f"  ({info['domain']}, split {info['split']}, size {info['size']}, reference {info['reference_length']})"
    lines = [head]
    fs = info["first_solved"]
    lines.append("first solved: " + ("never" if fs is None else
                                      f"generation {fs['gen']} ({fs['by']}"
                                      + (f" {fs['sample_id']}" if "sample_id" in fs else "") + ")"))
    for e in info["generations"]:
        bits = []
        if "samples" in e:
            s = e["samples"]
            bits.append(f"samples {s['valid']}/{s['n']} valid" + (f", shortest {s['shortest_valid']}"
                                                                  if s["shortest_valid"] is not None else ""))
        if "evaluation" in e:
            v = e["evaluation"]
            bits.append(f"eval greedy={'yes' if v['greedy_valid'] else 'no' if v['greedy_valid'] is not None else '-'}"
                        f" samples {v['samples_valid']}/{v['samples']}")
        if "training_plans" in e:
            bits.append(f"training plans {e['training_plans']}")
        if bits:
            lines.append(f"  gen {e['gen']}: " + "; ".join(bits))
    if info["training_plans"]:
        lines.append("training plans (trained in generation <- origin):")
        for p in info["training_plans"]:
            lines.append(f"  gen {p['trained_generation']} <- {p['origin_sample_id']} (generation "
                         f"{p['origin_generation']}, model {p['origin_model_hash'][:12]}, {p['plan_length']} steps"
                         + ("" if p["valid"] else ", INVALID") + ")")
    return "\n".join(lines) + "\n"


__all__ = ["TASKSET", "format_pipeline", "format_task", "pipeline_lineage", "stage_name", "task_lineage"]
