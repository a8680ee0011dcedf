"""`iterdeploy run`: the whole loop (task set, generation 0, every generation) through `dvc repro`.

Resumable: DVC skips every stage whose inputs, parameters and outputs match dvc.lock, and stage
outputs are written atomically, so a killed run simply re-runs and finishes the stages that had
not completed. Afterwards `dvc status` is clean.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from pathlib import Path

from iterdeploy.commands import add_project_arguments, load_project_params, params_file_in_project
from iterdeploy.errors import ConfigError, IterdeployError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run the loop: task set, base model, every generation (dvc repro)",
        description="Run the iterative-deployment loop with DVC: regenerate dvc.yaml if params.yaml's "
                    "generations changed, rebuild data/tasks from params.yaml and check it against data.dvc, "
                    "then `dvc repro`. Resumable after an interruption. Variants: `dvc exp run -n NAME -S key=value`.")
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="only these stages (e.g. gen_002-evaluation) or generations (gen_002: its five stages) and "
                        "what they need; default: all")
    add_project_arguments(p)
    p.add_argument("--force", action="store_true",
                   help="re-run even if up to date: the TARGETs only (their inputs are reused), or every stage")
    p.add_argument("--dry", action="store_true", help="show what would run (dvc repro --dry)")
    p.add_argument("--repin", action="store_true",
                   help="rebuild data/tasks from params.yaml and re-pin data.dvc to it (after changing `tasks`)")
    p.add_argument("--dvc", metavar="EXE", help="dvc executable (default: .venv-dvc/bin/dvc, $ITERDEPLOY_DVC, PATH)")
    p.set_defaults(func=run)


def _say(msg: str) -> None:
    print(f"[iterdeploy run] {msg}", flush=True)


def expand_targets(targets: list[str], params) -> list[str]:
    """Stage names as given; a generation name (gen_002) stands for all of its stages."""
    from iterdeploy.pipeline.registry import pipeline

    names = [s.name for s in pipeline(params)]
    out = []
    for t in targets:
        if re.fullmatch(r"gen_\d{3}", t):
            stages = [n for n in names if n.startswith(t + "-")]
            if not stages:
                raise ConfigError(f"{t}: no such generation (generations 0..{params.generations})")
            out += stages
        elif t in names:
            out.append(t)
        else:
            raise ConfigError(f"{t}: not a stage or generation of dvc.yaml (e.g. gen_001 or gen_001-samples)")
    return out


def summary_table(root: Path, params) -> str:
    """Solved test tasks per generation (counts of totals, per domain), the longest valid plan, the
    curated set's size, and the stage times that belong to the artifacts on disk."""
    from iterdeploy.artifacts import read_json
    from iterdeploy.pipeline import dvc
    from iterdeploy.pipeline.layout import Layout

    lay = Layout.of(params)
    rows = []
    for g in [0] + params.gens:
        path = root / lay.metrics(g)
        if not path.is_file():
            rows.append([str(g), "(not evaluated)", "", "", "", ""])
            continue
        m = read_json(path, "metrics")
        domains = " ".join(f"{d} {v['solved']}/{v['tasks']}" for d, v in m["by_domain"].items())
        t_path = root / lay.timings(g)
        seconds = ""
        if t_path.is_file():
            timings = read_json(t_path, "timings")
            names = {"samples": lay.samples(g), "validated_plans": lay.validated(g), "curated_dataset": lay.curated(g),
                     "checkpoint": lay.checkpoint(g), "evaluation": lay.evaluation(g)}
            current = [v["seconds"] for k, v in timings.items()
                       if k in names and (root / names[k]).exists() and v.get("md5") == dvc.md5(root / names[k])]
            seconds = f"{sum(current):.0f}" if current and len(current) == len(timings) else "-"
        rows.append([str(g), f"{m['solved']}/{m['tasks']}", domains, str(m["longest_plan"] or "-"),
                     str(m["curated"] if g else "-"), seconds])
    head = ["generation", "solved (greedy)", "per domain", "longest plan", "curated plans", "seconds"]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head] + rows]
    return "\n".join(lines) + "\n(seconds: '-' where the timing on record is for other artifacts than those on disk)"


def run(args: argparse.Namespace) -> int:
    from iterdeploy.artifacts import remove_stale_temporaries
    from iterdeploy.pipeline import dvc
    from iterdeploy.pipeline.context import Context
    from iterdeploy.pipeline.dvcgen import write_dvc_yaml
    from iterdeploy.pipeline.pin import pin_taskset

    root = Path(args.root).resolve()
    params = load_project_params(args)
    exe = dvc.find_dvc(args.dvc, root)
    if not (root / ".dvc").is_dir():
        raise IterdeployError("not a DVC project (no .dvc/); run `dvc init` in a git repository first", root)
    params_file = params_file_in_project(args)
    path, changed = write_dvc_yaml(params, root, params_file)
    if changed:
        _say(f"regenerated {path.name} from {params_file} ({params.generations} generations); commit it with git")
    if dvc.clear_stale_locks(root):
        _say("removed a stale DVC lock left by an interrupted run")
    if not dvc.lock_held(root):
        for leftover in remove_stale_temporaries(root / params.paths.runs):
            _say(f"removed {leftover.relative_to(root)} (left by an interrupted stage)")
    pin_taskset(Context(root=root, params=params, log=_say), exe, args.repin)
    targets = expand_targets(args.targets, params)
    # Targets always name the loop's stages (dvc.yaml): a bare `dvc repro` would also run pretrain/dvc.yaml.
    cmd = [exe, "repro", *(["--dry"] if args.dry else [])]
    if args.force:
        cmd += ["--force", "--single-item", *targets] if targets else ["--force", "dvc.yaml"]
        _say(f"dvc repro, forcing {', '.join(targets) if targets else 'every stage'}")
    else:
        cmd += targets or ["dvc.yaml"]
        _say(f"dvc repro ({params.generations} generations; stages whose inputs are unchanged are skipped)")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=dvc.dvc_env())
    if proc.returncode != 0:
        _say(f"dvc repro failed (exit {proc.returncode}); fix the cause above, then re-run `iterdeploy run` to resume")
        return 2
    if args.dry:
        return 0
    st = dvc.status(["dvc.yaml"], cwd=root, dvc=exe)
    _say(f"finished in {time.perf_counter() - t0:.0f}s; dvc status: " + ("clean" if not st else json.dumps(st)))
    print(summary_table(root, params), flush=True)
    return 0 if not st else 2
