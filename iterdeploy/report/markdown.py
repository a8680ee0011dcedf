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


def _f(x, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _monitors_table(data: dict) -> str:
    mon = data.get("monitors") or {}
    per_gen = mon.get("generations") or {}
    if not per_gen:
        return "No generation >= 1 evaluated yet: no monitors.\n"
    rows = []
    for g, m in per_gen.items():
        lost = "–" if m["lost_tasks"] is None else str(m["lost_tasks"])
        if m["lost_share"] is not None:
            lost += f" ({m['lost_share']:.0%})"
        rows.append([gen_name(int(g)), _f(m["distinct_valid_plans_per_task"]), _f(m["length_ratio_to_reference"]),
                     _f(m["token_entropy"], 3), _f(m["self_copy_share"]), lost,
                     "; ".join(m["alarms"].values()) or "–"])
    t = mon["thresholds"]
    return md_table(["generation", "distinct valid plans / task", "length / reference", "token entropy (nats)",
                     "self-copy share", "lost test tasks", "warnings"], rows) + (
        f"\nWarnings (params.yaml `monitors`, Dagster's WARN checks use the same): distinct valid plans per task "
        f"below {t['distinct_min_ratio']:g} x generation 1's (or none valid), entropy below "
        f"{t['entropy_min_ratio']:g} x generation 1's, more than {t['lost_max_share']:.0%} of the previous "
        f"generation's solved test tasks lost, self-copy share at least {t['self_copy_max']:.0%}.\n")


def summary_markdown(data: dict, figures: tuple[str, ...]) -> str:
    """summary.md: the tables with the figures (relative links, same folder)."""
    gens = data["generations"]
    first, last = gens[0], gens[-1]
    heatmap, solved, lengths, curated, monitors = figures
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
        "## Collapse monitors",
        "",
        "Generation g's deployment monitors describe the samples it is trained on (drawn by model g-1); lost "
        "test tasks compare model g with model g-1 (greedy).",
        "",
        _monitors_table(data),
        f"![collapse monitors per generation]({monitors})",
        "",
        "The implicit reward made explicit (each deployment task's success probability per policy, the expected "
        "reward, the weights the accumulation implies, the GRPO baseline beside the loop): "
        "[rl_view.md](rl_view.md), written by `iterdeploy report` next to this file.",
        "",
    ])


def _run_monitors_table(monitors: pd.DataFrame | None) -> str:
    if monitors is None or monitors.empty:
        return "No run has collapse monitors (their metrics.json predate them).\n"
    rows = []
    for r in monitors.itertuples(index=False):
        value = (lambda x, d=2: "–" if x is None or pd.isna(x) else f"{x:.{d}f}")
        lost = "–" if pd.isna(r.lost_tasks) else str(int(r.lost_tasks))
        rows.append([r.run, gen_name(int(r.generation)), value(r.distinct_valid_plans_per_task),
                     value(r.length_ratio_to_reference), value(r.token_entropy, 3), value(r.self_copy_share),
                     lost, r.alarms.replace(",", ", ") or "–"])
    return md_table(["run", "generation", "distinct valid plans / task", "length / reference",
                     "token entropy (nats)", "self-copy share", "lost test tasks", "warnings"], rows, left=2)


def ablations_markdown(table: pd.DataFrame, figure: str, monitors: pd.DataFrame | None = None) -> str:
    """ablations.md from `report.compare_runs(...)`: solved per generation, then longest plan at the end, then
    the collapse monitors and warnings of every run (`report.run_monitors(...)`)."""
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
        "## Collapse monitors per run",
        "",
        "Each run's warnings against its own generation 1 (thresholds: params.yaml `monitors`; summary.md "
        "defines them). An ablation that trains on whatever it samples (`curation.filter=none`) shows here.",
        "",
        _run_monitors_table(monitors),
    ])


def _secs(x) -> str:
    return "–" if x is None else f"{x:.0f}"


def comparison_markdown(data: dict) -> str:
    """The GRPO-vs-loop table: one row per budget point (loop generation p, GRPO checkpoint p)."""
    rows = []
    for r in data.get("comparison") or []:
        tasks = r["tasks"]
        cell = (lambda v: "–" if v is None else f"{v}/{tasks}")
        rows.append([str(r["point"]), _num(r["loop_samples"]), cell(r["loop_solved"]), _secs(r["loop_wall_s"]),
                     _num(r["grpo_samples"]), cell(r["grpo_solved"]), _secs(r["grpo_wall_s"])])
    return md_table(["budget point (generation / checkpoint)", "loop: plans sampled", "loop: test solved",
                     "loop: seconds", "GRPO: plans sampled", "GRPO: test solved", "GRPO: seconds"], rows)


def rl_markdown(data: dict, figures: dict) -> str:
    """rl_view.md from `rl_view.rl_tables(...)` (every number is one of rl_view.json's)."""
    k = ", ".join(str(x) for x in data["k"]) or "–"
    expected = data["expected_reward"]
    policies = sorted({r["policy"] for r in expected})
    domains = list(dict.fromkeys(r["domain"] for r in expected))
    cell = {(r["policy"], r["domain"]): r for r in expected}
    rows = [[d] + [(f"{cell[(p, d)]['reward']:.3f} ± {cell[(p, d)]['stderr']:.3f} ({cell[(p, d)]['solved']}/"
                    f"{cell[(p, d)]['tasks']})" if (p, d) in cell else "–") for p in policies] for d in domains]
    reward_table = md_table(["domain"] + [f"policy {p} (gen {p + 1})" for p in policies], rows) if rows else \
        "No generation >= 1 evaluated yet: no deployment samples.\n"
    sizes = data["success_by_size"]
    size_rows = {}
    for r in sizes:
        size_rows.setdefault((r["domain"], r["size"]), {})[r["policy"]] = r["p"]
    size_table = md_table(["domain", "size"] + [f"policy {p}" for p in policies],
                          [[d, str(s)] + [_f(v.get(p)) for p in policies] for (d, s), v in sorted(size_rows.items())],
                          left=2) if size_rows else ""
    task_cells: dict[tuple, dict] = {}
    for r in data.get("success_by_task") or []:
        task_cells.setdefault((r["domain"], r["size"], r["task_id"]), {})[r["policy"]] = f"{r['valid']}/{r['n']}"
    task_table = md_table(["domain", "size", "task"] + [f"policy {p}" for p in policies],
                          [[d, str(s), t] + [v.get(p, "–") for p in policies]
                           for (d, s, t), v in sorted(task_cells.items())], left=3) if task_cells else ""
    w_rows = [[gen_name(r["generation"]), f"gen {r['origin_generation']} (policy {r['behaviour_policy']})",
               str(r["plans"]), f"{r['share']:.2f}", str(r["staleness"]), _f(r["mean_p"]), _f(r["mean_weight"])]
              for r in data["weights"]]
    weights_table = md_table(["training set", "drawn in (behaviour policy)", "plans", "share of D_g",
                              "staleness (generations)", "mean p of its tasks", "mean weight 1/p"], w_rows) \
        if w_rows else "No curated plans with an origin.\n"
    parts = [
        "# The RL view: the implicit reward made explicit",
        "",
        "Iterative deployment optimises the validator's 0/1 verdict without ever writing it down "
        "(docs/rl.md). Here it is written down: each deployment task's success probability under each "
        f"policy, estimated from its K = {k} samples (valid / K; generation g's samples are drawn by "
        "model g-1), and the policy's expected reward, the mean over the deployment tasks.",
        "",
        f"![success probability per deployment task and policy; expected reward]({figures['landscape']})",
        "",
        "## Expected reward per policy (mean success probability ± standard error, tasks with a valid sample)",
        "",
        reward_table,
        "## Success probability per size (mean over the size's tasks)",
        "",
        size_table,
        "## Success per deployment task (valid samples / K, per policy; sorted by domain and size)",
        "",
        "<details><summary>one row per deployment task</summary>",
        "",
        task_table,
        "</details>",
        "",
        "## The weights the accumulation implies",
        "",
        "SFT on the accumulated curated set D_g is a REINFORCE step with the 0/1 reward whose samples come "
        "from a mixture of behaviour policies (one per origin generation, mixed by its share of D_g) and "
        "whose importance weights pi/pi_behaviour are set to 1; each kept plan stands for all K·p valid "
        "samples of its task, so relative to on-policy REINFORCE (weight p per task) it carries 1/p: rare "
        "successes count most. Staleness is how many generations older than policy g-1 its behaviour "
        "policy is (0: on-policy).",
        "",
        weights_table,
        f"![share of each behaviour policy in the curated set, and the implied weight]({figures['weights']})",
        "",
    ]
    if "comparison" in data:
        g = data["grpo"]
        gp = (g.get("params") or {}).get("grpo", {})
        parts += [
            "## An explicit RL baseline on the same budget: GRPO with the validator as reward",
            "",
            f"From the same base, on the same deployment tasks with the same sampler settings: {g['steps']} GRPO "
            f"steps ({'TRL GRPOTrainer' if gp.get('trainer') == 'trl' else 'torch'}) of "
            f"{gp.get('prompts_per_step', '?')} prompts x {gp.get('group_size', '?')} completions, reward = the "
            "validator's verdict (iterdeploy.rl.validator_reward), a checkpoint after every loop generation's "
            "worth of sampled plans, each evaluated by the loop's evaluation code on the same test split "
            "(greedy). Seconds: the loop's sample, validate, curate and fine-tune stages; GRPO's sampling, "
            "rewards and updates; evaluation is left out on both sides.",
            "",
            comparison_markdown(data),
            f"![test tasks solved against plans sampled and against seconds]({figures['comparison']})",
            "",
        ]
    if data.get("unverified"):
        parts += [f"{len(data['unverified'])} of the files read have no record in dvc.lock (a run outside DVC).", ""]
    return "\n".join(parts)
