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
import sys
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
    p.add_argument("--dry", action="store_true",
                   help="check the configuration (params, task spec, collection folders) and print the stage graph; "
                        "runs nothing, needs neither the model folder nor DVC")
    p.add_argument("--exp", metavar="NAME",
                   help="run as the DVC experiment NAME (`dvc exp run -n NAME` instead of `dvc repro`): "
                        "`dvc exp show` lists it with its params and metrics")
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


def dry_run(root: Path, params, params_file: str, targets: list[str]) -> str:
    """What `iterdeploy run --dry` prints: every check that needs no model and no DVC, then the stage graph
    from the registry. Raises a one-line error on the first problem."""
    from iterdeploy.pipeline.dvcgen import render_dvc_yaml
    from iterdeploy.pipeline.registry import TASKSET, pipeline
    from iterdeploy.tasks.collection import split_records
    from iterdeploy.tasks.taskset import generated_records, spec_domain_files

    lines = [f"dry run of {params_file}: configuration checked; nothing runs, DVC is not called"]
    spec = params.tasks
    spec_domain_files(spec, root)  # one domain file per domain, collections included
    # Every task read or generated (not written): collection folders, PDDL, plans, no task twice.
    records = list(generated_records(spec, root))
    plans = {r.task_id for r in records if r.plan is not None}
    for split in spec.splits:
        if split.generated:
            n, with_plans = len(split.sizes) * split.per_size, "reference plans"
            source = f"generated, sizes {list(split.sizes)} x {split.per_size}"
        else:
            ids = [rec.task_id for rec in split_records(split, root)]
            n, with_plans = len(ids), f"{sum(i in plans for i in ids)} with reference plans"
            source = f"from {split.collection} {', '.join(split.subsets or ['(every subset)'])}"
        lines.append(f"  tasks: {split.name:<8} {split.domain:<12} {n:>4} tasks ({with_plans}), {source}")
    model = params.model
    folder = Path(model.path).expanduser()
    folder = folder if folder.is_absolute() else root / folder
    state = "present" if (folder / "config.json").is_file() else "not present here (needed to run, not for --dry)"
    thinking = "" if model.enable_thinking is None else f", enable_thinking {str(model.enable_thinking).lower()}"
    lines.append(f"  model: {model.path} ({model.prompt_format}{thinking}): {state}")
    r, sm, tr = params.runtime, params.sampling, params.training
    lines.append(f"  runtime: device {r.device}, dtype {r.dtype}, threads {r.threads}; sampling {sm.backend} "
                 f"(K {sm.k}, temperature {sm.temperature}); evaluation {params.evaluation.backend}; training "
                 f"{tr.method} from {tr.init_from}")
    render_dvc_yaml(params, params_file)  # the dvc.yaml `iterdeploy run` would write
    stages = pipeline(params)
    made = {TASKSET}
    chosen = set(targets)
    lines.append(f"stage graph ({len(stages)} stages, {params.generations} generations; * = a target and what it "
                 "needs)" if targets else f"stage graph ({len(stages)} stages, {params.generations} generations):")
    needed = _needed(stages, chosen) if targets else {s.name for s in stages}
    width = max(len(s.name) for s in stages)
    for s in stages:
        missing = [u for u in s.upstream if u not in made]
        if missing:  # the registry's order must respect dependencies
            raise IterdeployError(f"stage graph: {s.name} reads {', '.join(missing)} before it is made")
        made.add(s.name)
        mark = "*" if targets and s.name in needed else " "
        lines.append(f" {mark}{s.name:<{width}}  <- {', '.join(s.upstream) or '-'}  [params: {', '.join(s.params)}]")
    return "\n".join(lines)


def _needed(stages, targets: set[str]) -> set[str]:
    by_name = {s.name: s for s in stages}
    out, todo = set(), list(targets)
    while todo:
        name = todo.pop()
        if name in out or name not in by_name:
            continue
        out.add(name)
        todo += list(by_name[name].upstream)
    return out


def run(args: argparse.Namespace) -> int:
    from iterdeploy.artifacts import remove_stale_temporaries
    from iterdeploy.pipeline import dvc
    from iterdeploy.pipeline.context import Context
    from iterdeploy.pipeline.dvcgen import write_dvc_yaml
    from iterdeploy.pipeline.pin import pin_taskset

    root = Path(args.root).resolve()
    params = load_project_params(args)
    params_file = params_file_in_project(args)
    if args.dry:
        print(dry_run(root, params, params_file, expand_targets(args.targets, params)), flush=True)
        return 0
    exe = dvc.find_dvc(args.dvc, root)
    if not (root / ".dvc").is_dir():
        raise IterdeployError("not a DVC project (no .dvc/); run `dvc init` in a git repository first", root)
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
    cmd = [exe, "exp", "run", "-n", args.exp] if args.exp else [exe, "repro"]
    if args.exp:
        cmd += ["--force"] if args.force else []
        cmd += targets or ["dvc.yaml"]
        _say(f"dvc exp run -n {args.exp} ({params.generations} generations{', forced' if args.force else ''})")
    elif args.force:
        cmd += ["--force", "--single-item", *targets] if targets else ["--force", "dvc.yaml"]
        _say(f"dvc repro, forcing {', '.join(targets) if targets else 'every stage'}")
    else:
        cmd += targets or ["dvc.yaml"]
        _say(f"dvc repro ({params.generations} generations; stages whose inputs are unchanged are skipped)")
    t0 = time.perf_counter()
    quiet = set() if dvc.has_remote(root) else {dvc.NO_REMOTE_NOISE}
    proc = subprocess.Popen(cmd, cwd=root, env=dvc.dvc_env(), stdout=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() not in quiet:
            sys.stdout.write(line)
            sys.stdout.flush()
    proc.wait()
    if proc.returncode != 0:
        _say(f"dvc {'exp run' if args.exp else 'repro'} failed (exit {proc.returncode}); fix the cause above, then "
             "re-run `iterdeploy run` to resume")
        return 2
    st = dvc.status(["dvc.yaml"], cwd=root, dvc=exe)
    _say(f"finished in {time.perf_counter() - t0:.0f}s; dvc status: " + ("clean" if not st else json.dumps(st)))
    print(summary_table(root, params), flush=True)
    _report_to_dagster(root, args.params)
    return 0 if not st else 2


def _report_to_dagster(root: Path, params_file: str) -> None:
    """Report what DVC made to the Dagster instance (dagster_project/report_dvc.py, in a child process: the
    core never imports Dagster), when Dagster is installed here; a failure is a warning."""
    import importlib.util
    import os
    import sys

    checkout = Path(__file__).resolve().parents[2]
    if importlib.util.find_spec("dagster") is None or not (checkout / "dagster_project" / "report_dvc.py").is_file():
        return
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(checkout), os.environ.get("PYTHONPATH")) if p))
    cmd = [sys.executable, "-m", "dagster_project.report_dvc", "--root", str(root), "--params", params_file]
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _say(f"warning: could not report the stages to Dagster ({type(exc).__name__})")
        return
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        _say(f"warning: could not report the stages to Dagster: {last}")
    elif proc.stdout.strip():
        print(proc.stdout.strip().splitlines()[-1], flush=True)
