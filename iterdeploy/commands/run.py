"""`iterdeploy run`: the whole loop (bootstrap, then every generation) through `dvc repro`.

Resumable: DVC skips every stage whose inputs, parameters and outputs match dvc.lock, and
stage outputs are written atomically, so a killed run simply re-runs and finishes the
stages that had not completed. Afterwards `dvc status` is clean.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from iterdeploy.commands import add_project_arguments
from iterdeploy.errors import IterdeployError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run the loop: task set, base model, every generation (dvc repro)",
        description="Run the iterative-deployment loop with DVC: regenerate dvc.yaml if params.yaml's "
                    "generations changed, build data/tasks if missing and check it against data.dvc, then "
                    "`dvc repro`. Resumable after an interruption.")
    p.add_argument("targets", nargs="*", metavar="STAGE", help="only these stages and what they need "
                                                               "(e.g. gen_002-evaluation); default: all")
    add_project_arguments(p, params=False)
    p.add_argument("--force", action="store_true", help="re-run stages even if up to date (dvc repro --force)")
    p.add_argument("--dry", action="store_true", help="show what would run (dvc repro --dry)")
    p.add_argument("--repin", action="store_true",
                   help="re-pin data.dvc to the task set built from params.yaml (after changing `tasks`)")
    p.add_argument("--dvc", metavar="EXE", help="dvc executable (default: .venv-dvc/bin/dvc, $ITERDEPLOY_DVC, PATH)")
    p.set_defaults(func=run)


def _say(msg: str) -> None:
    print(f"[iterdeploy run] {msg}", flush=True)


def summary_table(root: Path, params) -> str:
    from iterdeploy.layout import Layout

    lay = Layout(params)
    lines = ["generation  solved(greedy)  solved(pass@k)  curated  timings(s)"]
    for g in [0] + params.gens:
        m_path = root / lay.metrics(g)
        if not m_path.is_file():
            lines.append(f"{g:>10}  (not evaluated)")
            continue
        m = json.loads(m_path.read_text())
        cur = ""
        if g > 0 and (root / lay.curated(g)).is_file():
            import pandas as pd

            cur = str(len(pd.read_parquet(root / lay.curated(g))))
        t_path = root / lay.path(g, "timings.json")
        secs = ""
        if t_path.is_file():
            t = json.loads(t_path.read_text())
            secs = f"{sum(v.get('seconds', 0) for v in t.values()):.0f}"

        def f(x):
            return "-" if x is None else f"{x:.3f}"

        lines.append(f"{g:>10}  {f(m['solved']['greedy']):>14}  {f(m['solved']['pass_at_k']):>14}  {cur:>7}  {secs:>10}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from iterdeploy import dvc
    from iterdeploy.stages import Context, load_config, pin_taskset

    root = Path(args.root).resolve()
    params = load_config(root / "params.yaml")
    exe = dvc.find_dvc(args.dvc, root)
    if not (root / ".dvc").is_dir():
        raise IterdeployError("not a DVC project (no .dvc/); run `dvc init` in a git repository first", root)
    path, changed = dvc.write_dvc_yaml(params, root)
    if changed:
        _say(f"regenerated {path.name} from params.yaml ({len(params.gens)} generations); commit it with git")
    if dvc.clear_stale_locks(root):
        _say("removed a stale DVC lock left by an interrupted run")
    pin_taskset(Context(root=root, params=params, log=_say), exe, args.repin)
    cmd = [exe, "repro", *(["--force"] if args.force else []), *(["--dry"] if args.dry else []), *args.targets]
    _say(f"dvc repro ({len(params.gens)} generations; done stages are skipped)")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=dvc.dvc_env())
    if proc.returncode != 0:
        _say(f"dvc repro failed (exit {proc.returncode}); re-run `iterdeploy run` to resume")
        return proc.returncode
    if args.dry:
        return 0
    st = dvc.status([], cwd=root, dvc=exe)
    _say(f"finished in {time.perf_counter() - t0:.0f}s; dvc status: " + ("clean" if not st else json.dumps(st)))
    print(summary_table(root, params), flush=True)
    return 0 if not st else 1

