"""`iterdeploy report`: figures, summary.md and summary.json of a run, rl_view.md (the GRPO baseline beside it
when there is one); with --compare, runs side by side."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from iterdeploy.commands import add_project_arguments
from iterdeploy.errors import IterdeployError
from iterdeploy.pipeline import dvc
from iterdeploy.report.run_report import DEFAULT_OUT, experiments_table, format_solved, write_comparison, write_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="regenerate the report folder (figures, summary.md, summary.json) from a run's artifacts",
        description="Read every evaluated generation's evaluation.parquet and curated_dataset.parquet under the "
                    "project root and write success_heatmap.png, solved_counts.png, plan_lengths.png, "
                    "curated_growth.png, monitors.png, summary.md and summary.json, and the RL view: rl_view.md "
                    "(.json), rl_landscape.png, rl_weights.png (each deployment task's success probability per "
                    "policy, the expected reward, the weights the accumulation implies), with a GRPO run also "
                    "grpo_vs_loop.png and its table. With --compare, also ablations.md and "
                    "ablations.png: this run next to the named ones. Prints solved test tasks per generation.")
    add_project_arguments(p)
    p.add_argument("--out", metavar="DIR", help="report folder (default: <root>/reports)")
    p.add_argument("--name", default="default", help="this run's name in the comparison (default: default)")
    p.add_argument("--compare", nargs="+", default=[], metavar="NAME=ROOT",
                   help="other runs (project roots) to put next to this one, e.g. filter=none=../ablation-filter")
    p.add_argument("--experiments", action="store_true",
                   help="also compare the DVC experiments of this project (those of the newest commit that has "
                        "any, from `dvc exp show --json`; e.g. the ablations of scripts/ablations.sh) with the "
                        "workspace run: ablations.md and .png")
    p.add_argument("--grpo", metavar="DIR",
                   help="the GRPO run (`iterdeploy grpo`) rl_view.md compares with the loop (default: the `out` "
                        "folder of grpo/params.yaml when it holds a log.json)")
    p.set_defaults(func=run)


def grpo_folder(root: Path, given: str | None) -> Path | None:
    """The GRPO run rl_view.md compares with: --grpo, else grpo/params.yaml's `out` if a run is there."""
    if given:
        return Path(given) if Path(given).is_absolute() else root / given
    from iterdeploy.pipeline.grpo import LOG, PARAMS_FILE, load_grpo_params

    if not (root / PARAMS_FILE).is_file():
        return None
    folder = root / load_grpo_params(root / PARAMS_FILE).out
    return folder if (folder / LOG).is_file() else None


def parse_named_roots(items: list[str]) -> dict[str, Path]:
    """['name=root', ...] -> {name: root}; the name ends at the last '=' so names may contain '='
    (e.g. 'filter=none=../runs-filter-none')."""
    out: dict[str, Path] = {}
    for item in items:
        name, sep, root = item.rpartition("=")
        if not sep or not name or not root:
            raise IterdeployError(f"--compare {item!r}: expected NAME=ROOT")
        if name in out:
            raise IterdeployError(f"--compare: run name {name!r} given twice")
        out[name] = Path(root)
    return out


def run(args: argparse.Namespace) -> int:
    root = Path(args.root)
    out = Path(args.out) if args.out else root / DEFAULT_OUT
    others = parse_named_roots(args.compare)
    if others and args.experiments:
        raise IterdeployError("--compare and --experiments: give one source of runs to compare")
    if args.name in others:
        raise IterdeployError(f"--compare: run name {args.name!r} is this run's name (--name)")
    data = write_report(root, out, args.params)
    sys.stdout.write(format_solved(data))
    from iterdeploy.report.rl_view import write_rl_view

    rl_data = write_rl_view(root, out, args.params, grpo_folder(root, args.grpo))
    for r in rl_data.get("comparison", []):
        sys.stdout.write(f"budget point {r['point']}: loop {r['loop_solved']} solved after {r['loop_samples']} "
                         f"plans, GRPO {r['grpo_solved']} after {r['grpo_samples']}\n")
    table = None
    if args.experiments:
        # the last 20 commits: ablations queued before a later (say, docs-only) commit still count
        shown = json.loads(dvc.run(["exp", "show", "--json", "-n", "20"], cwd=root).stdout)
        table = experiments_table(shown, {"workspace": args.name}, root)
    if others or table is not None:
        table = write_comparison({args.name: root, **others}, out, table)
        totals = table[table["domain"] == "total"].pivot(index="run", columns="generation", values="solved")
        totals = totals.reindex(list(dict.fromkeys(table["run"])))
        sys.stdout.write("\nsolved test tasks (greedy, total) per run\n"
                         + totals.to_string(na_rep="-", float_format=lambda v: f"{v:.0f}") + "\n")
    print(f"report written to {out}", file=sys.stderr)
    return 0
