"""Markdown of the report (`iterdeploy.report`): rendered from the summary dict and comparison frame only,
so every number in summary.md is one of summary.json's."""

from __future__ import annotations

import pandas as pd

from iterdeploy.pipeline.layout import gen_name


def md_table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A GitHub Markdown table; the first `left` columns (labels) left-aligned, the others (numbers) right."""
    align = [":---"] * left + ["---:"] * (len(header) - left)
    lines = [header, align] + rows
    return "\n".join("| " + " | ".join(str(c) for c in line) + " |" for line in lines) + "\n"


def _num(x) -> str:
    return "–" if x is None or (not isinstance(x, str) and pd.isna(x)) else str(x)


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def _per_gen_table(data: dict, key: str, first: int, last: int) -> str:
    gens = [str(g) for g in data["generations"]]
    header = ["domain", "test tasks"] + [gen_name(int(g)) for g in gens] + [f"{gen_name(last)} / {gen_name(first)}"]
    rows = [[d, str(data["tasks"][d])] + [_num(by[g]) for g in gens] + [_ratio(data[f"{key}_ratio"][d])]
            for d, by in data[key].items()]
    return md_table(header, rows)


def _size_tables(data: dict) -> str:
    gens = [str(g) for g in data["generations"]]
    parts = []
    for domain, by_size in data["success_by_size"].items():
        rows = []
        for size, by_gen in sorted(by_size.items(), key=lambda kv: int(kv[0])):
            cells = [(f"{c['success']:.2f} ({c['solved']}/{c['tasks']})" if c else "–")
                     for c in (by_gen.get(g) for g in gens)]
            rows.append([size] + cells)
        parts.append(f"**{domain}**\n\n" + md_table(["size"] + [gen_name(int(g)) for g in gens], rows))
    return "\n".join(parts)


def _curated_table(data: dict) -> str:
    if not data["curated"]:
        return "No generation >= 1 evaluated yet: no curated datasets.\n"
    origins = sorted({int(o) for c in data["curated"].values() for o in c["by_origin_generation"]})
    header = ["generation", "plans", "tasks"] + [f"from {gen_name(o)}" for o in origins]
    rows = [[gen_name(int(g)), str(c["rows"]), str(c["tasks"])]
            + [str(c["by_origin_generation"].get(str(o), 0)) for o in origins]
            for g, c in data["curated"].items()]
    return md_table(header, rows)


def _deployment_table(data: dict) -> str:
    deployed = data.get("deployment") or {}
    if not deployed:
        return "No generation >= 1 evaluated yet: no deployment samples.\n"
    rows = [[gen_name(int(g)), str(d["samples"]), str(d["valid"]), f"{d['solved']} / {d['tasks']}",
             _num(d["longest_valid"])] for g, d in deployed.items()]
    table = md_table(["generation", "samples", "valid samples", "tasks with a valid plan", "longest valid plan"], rows)
    return table + "".join(f"\n{line}\n" for line in no_valid_lines(data))


def no_valid_lines(data: dict) -> list[str]:
    """One line per generation whose deployment found no valid plan, saying what its model then is."""
    lines = []
    for g, d in (data.get("deployment") or {}).items():
        if d["valid"]:
            continue
        rows = (data.get("curated") or {}).get(g, {}).get("rows", 0)
        then = (f"its curated dataset is empty, so model {gen_name(int(g))} is the previous model carried forward "
                "unchanged (not trained)" if not rows else
                f"model {gen_name(int(g))} trains on the {rows} plans accumulated in earlier generations")
        lines.append(f"**{gen_name(int(g))}: no valid sample** among its {d['samples']} deployment samples; {then}.")
    return lines


def summary_markdown(data: dict, figures: tuple[str, ...]) -> str:
    """summary.md: the four tables with the figures (relative links, same folder)."""
    gens = data["generations"]
    first, last = gens[0], gens[-1]
    heatmap, solved, lengths, curated = figures
    pending = f" Configured but not evaluated yet: {', '.join(gen_name(g) for g in data['pending'])}." \
        if data["pending"] else ""
    unverified = data.get("unverified") or []
    if unverified:
        pending += (f" {len(unverified)} of the files read have no record in dvc.lock, so they are not checked "
                    "against it (a run outside DVC).")
    else:
        pending += " Every file read was checked against the md5 dvc.lock records."
    return "\n".join([
        "# Iterative deployment report",
        "",
        f"Generations {', '.join(str(g) for g in gens)} (evaluated).{pending} Counts are of greedy plans "
        "on the held-out test tasks; ratios compare the last generation with the first.",
        "",
        "## Solved test tasks (greedy)",
        "",
        _per_gen_table(data, "solved", first, last),
        f"![solved test tasks per generation]({solved})",
        "",
        "## Longest valid greedy plan (steps)",
        "",
        _per_gen_table(data, "longest_valid", first, last),
        f"![valid greedy plan lengths per generation]({lengths})",
        "",
        "## Success per task size (solved fraction, solved/tasks)",
        "",
        _size_tables(data),
        f"![success per size and generation]({heatmap})",
        "",
        "## Deployment (what each generation's model found on the deployment tasks)",
        "",
        "Generation g samples with model g-1; its valid plans become generation g's training data.",
        "",
        _deployment_table(data),
        "",
        "## Curated training data",
        "",
        _curated_table(data),
        f"![curated dataset size per generation]({curated})",
        "",
    ])


def ablations_markdown(table: pd.DataFrame, figure: str) -> str:
    """ablations.md from `report.compare_runs(...)`: solved per generation, then longest plan at the end."""
    gens = sorted(table["generation"].unique())
    runs = list(dict.fromkeys(table["run"]))
    domains = list(dict.fromkeys(table["domain"]))
    rows = []
    for run in runs:
        for domain in domains:
            part = table[(table["run"] == run) & (table["domain"] == domain)].set_index("generation")
            if part.empty:
                continue
            rows.append([run, domain, str(int(part["tasks"].iloc[0]))]
                        + [_num(part["solved"].get(g)) for g in gens])
    solved = md_table(["run", "domain", "test tasks"] + [gen_name(int(g)) for g in gens], rows, left=2)
    last = table[table["last"]]
    rows = []
    for run in runs:
        part = last[last["run"] == run].set_index("domain")
        rows.append([run, gen_name(int(part["generation"].iloc[0]))]
                    + [_num(part["longest_valid"].get(d)) for d in domains]
                    + [f"{int(part.loc['total', 'solved'])}/{int(part.loc['total', 'tasks'])}"])
    longest = md_table(["run", "last generation"] + [f"longest {d}" for d in domains] + ["solved (total)"], rows)
    return "\n".join([
        "# Runs side by side", "",
        "Greedy plans on the held-out test tasks; '–': the run has no such generation.", "",
        "## Solved test tasks per generation", "", solved,
        "## At the last generation", "", longest,
        f"![solved test tasks per generation, per run]({figure})", "",
    ])
