"""Lineage: which artifact came from which, with the content hashes DVC recorded.

Per generation g the chain is

    checkpoint(g-1) -> samples(g) -> validated_plans(g) -> curated_dataset(g) -> checkpoint(g) -> evaluation(g)

and each link shows the md5 that dvc.lock records for the artifact, whether the file on disk
still has that md5 (`verified`; a file changed behind DVC's back makes the lineage incomplete),
and whether every consumer's recorded input hash equals its producer's recorded output hash.
For one task, `task_lineage` says in which generation it was first solved and where each of its
training plans came from (generation, sample id, and the sha256 of the model that wrote it).

Reads dvc.lock, data.dvc and the Parquet artifacts; never runs anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from iterdeploy.artifacts import read_parquet
from iterdeploy.errors import IterdeployError
from iterdeploy.pipeline import dvc
from iterdeploy.pipeline.layout import Layout
from iterdeploy.pipeline.params import LoopParams
from iterdeploy.pipeline.registry import ARTIFACTS, TASKSET, pipeline, producers


def _node(root: Path, lock: dict, stage) -> dict:
    recorded = dvc.locked_outs(lock, stage.name)
    files = []
    for path in stage.all_outs:
        exists = (root / path).exists()
        md5 = recorded.get(path)
        files.append({"path": path, "md5": md5, "exists": exists,
                      "verified": bool(exists and md5 and dvc.md5(root / path) == md5)})
    main = files[0]
    return {"gen": stage.gen, "artifact": stage.artifact.name, "stage": stage.name, "path": main["path"],
            "md5": main["md5"], "exists": all(f["exists"] for f in files), "in_lock": stage.name in lock,
            "verified": all(f["verified"] for f in files), "files": files}


def _inconsistent(params: LoopParams, lock: dict) -> list[dict]:
    """For each dep of each stage in the lock, whether the hash the consumer recorded equals the producer's."""
    made = producers(params)
    tasks = str(Layout.of(params).tasks)
    problems = []
    for s in pipeline(params):
        if s.name not in lock:
            continue
        used = dvc.locked_deps(lock, s.name)
        for dep in s.deps:
            if dep == tasks:  # data/ is pinned as a whole; its subfolder hash is not in data.dvc
                continue
            producer = made.get(dep)
            current = dvc.locked_outs(lock, producer.name).get(dep) if producer else None
            if current is not None and used.get(dep) is not None and current != used[dep]:
                problems.append({"stage": s.name, "dep": dep, "recorded": used[dep], "current": current})
    return problems


def pipeline_lineage(root: str | Path, params: LoopParams) -> dict:
    """The whole chain: task set pin, generation 0, then per generation the five artifacts."""
    root = Path(root)
    lay = Layout.of(params)
    lock = dvc.read_lock(root)
    pin = dvc.read_pin(root)
    pinned = root / lay.pinned_dir
    out: dict = {
        "taskset": {"path": str(lay.tasks), "pin": "data.dvc", "pinned_path": pin.get("path"), "md5": pin.get("md5"),
                    "exists": pinned.is_dir(),
                    "verified": bool(pinned.is_dir() and pin.get("md5") and dvc.md5(pinned) == pin.get("md5"))},
        "generations": [],
    }
    nodes = {(s.gen, s.artifact.name): _node(root, lock, s) for s in pipeline(params)}
    order = [a.name for a in ARTIFACTS]
    for g in [0] + params.gens:
        chain = ([nodes[(g - 1, "checkpoint")]] if g > 0 else []) + \
                [nodes[(g, a)] for a in order if (g, a) in nodes]
        entry = {"gen": g, "chain": chain, "metrics": _metrics(root, lay, g)}
        cur = root / lay.curated(g)
        if g > 0 and cur.is_file():
            df = read_parquet(cur, "curated dataset", ("task_id", "origin_generation"))
            entry["curated"] = {"rows": int(len(df)), "tasks": int(df["task_id"].nunique()),
                                "by_origin_generation": {str(int(k)): int(v) for k, v in
                                                         df["origin_generation"].value_counts().sort_index().items()}}
        out["generations"].append(entry)
    out["inconsistent_links"] = _inconsistent(params, lock)
    out["complete"] = out["taskset"]["verified"] and all(
        n["in_lock"] and n["verified"] for e in out["generations"] for n in e["chain"])
    return out


def _metrics(root: Path, layout: Layout, gen: int) -> dict | None:
    path = root / layout.metrics(gen)
    if not path.is_file():
        return None
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return {"solved": m.get("solved"), "tasks": m.get("tasks")}


def task_lineage(root: str | Path, params: LoopParams, task_id: str) -> dict:
    """For one task: its split, per generation its samples / evaluation results, the first generation
    that solved it, and every training plan of it with its origin."""
    root = Path(root)
    layout = Layout.of(params)
    manifest_path = root / layout.tasks / "manifest.parquet"
    info: dict = {"task_id": task_id}
    if manifest_path.is_file():
        man = read_parquet(manifest_path, "task set manifest", ("task_id", "domain", "split", "size"))
        row = man[man["task_id"] == task_id]
        if row.empty:
            raise IterdeployError(f"task {task_id!r} is not in the task set", manifest_path)
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
            df = read_parquet(val, "validated plans", ("task_id", "valid", "plan_length", "error"))
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
            df = read_parquet(ev, "evaluation results", ("task_id", "mode", "valid"))
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
            df = read_parquet(cur, "curated dataset", ("task_id", "origin_generation"))
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


def _flag(n: dict) -> str:
    if not n["exists"]:
        return " MISSING"
    return "" if n["verified"] or not n["md5"] else " CHANGED (differs from dvc.lock)"


def format_pipeline(lin: dict) -> str:
    t = lin["taskset"]
    lines = ["hashes are the md5s DVC records in dvc.lock and data.dvc",
             f"task set  {t['path']}  md5 {_short(t['md5'])} (data.dvc pins {t['pinned_path']})"
             + ("  MISSING" if not t["exists"] else "" if t["verified"] else "  CHANGED (differs from data.dvc)")]
    for e in lin["generations"]:
        m = e.get("metrics") or {}
        rate = "" if m.get("solved") is None else f"solved {m['solved']}/{m['tasks']}"
        extra = ""
        if "curated" in e:
            extra = f"  curated {e['curated']['rows']} plans / {e['curated']['tasks']} tasks"
        lines.append(f"generation {e['gen']}:  {rate or 'not evaluated'}{extra}")
        parts = []
        for n in e["chain"]:
            label = n["artifact"] if n["gen"] == e["gen"] else f"{n['artifact']}({n['gen']})"
            parts.append(f"{label}[{_short(n['md5'])}]{_flag(n)}")
        lines.append("  " + " -> ".join(parts))
    if lin["inconsistent_links"]:
        lines.append("inconsistent (an input changed after its consumer ran; `dvc status` lists them):")
        for p in lin["inconsistent_links"]:
            lines.append(f"  {p['stage']}: {p['dep']} recorded {_short(p['recorded'])}, now {_short(p['current'])}")
    lines.append("complete: every artifact is on disk as dvc.lock records it" if lin["complete"] else
                 "incomplete: some stages have not run, ran outside DVC, or their files changed since")
    return "\n".join(lines) + "\n"


def format_task(info: dict) -> str:
    head = f"task {info['task_id']}"
    if "split" in info:
        head += f"  ({info['domain']}, split {info['split']}, size {info['size']}, reference {info['reference_length']})"
    lines = [head, "model hashes are sha256 of the model folder (a checkpoint's DVC md5: `iterdeploy lineage`)"]
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
                         f"{p['origin_generation']}, model sha256 {p['origin_model_hash'][:12]}, "
                         f"{p['plan_length']} steps"
                         + ("" if p["valid"] else ", INVALID") + ")")
    return "\n".join(lines) + "\n"


__all__ = ["TASKSET", "format_pipeline", "format_task", "pipeline_lineage", "task_lineage"]
