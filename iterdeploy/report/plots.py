"""PNG figures of the report (`iterdeploy.report`), from its tables; each function returns PNG bytes.

Byte-stable like `iterdeploy.pipeline.plots`: the Agg backend, fixed sizes and dpi, no software tag, and a
seeded jitter, so the same artifacts give the same files.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from iterdeploy.pipeline.layout import gen_name  # noqa: E402

TOTAL = "total"


def _png(fig) -> bytes:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _colors(domains) -> dict[str, tuple]:
    """One colour per domain, the same in every figure (sorted names into tab10)."""
    cmap = plt.get_cmap("tab10")
    return {d: cmap(i % 10) for i, d in enumerate(sorted(domains))}


def _count_axis(ax) -> None:
    """Counts: integer ticks from 0, headroom for the value labels above the points."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(ax.get_ylim()[1] * 1.08, 1))  # an all-zero series would get fractional ticks


def _gen_axis(ax, gens) -> None:
    ax.set_xticks(list(gens))
    ax.set_xlabel("generation")
    if len(gens) == 1:
        ax.set_xlim(gens[0] - 0.5, gens[0] + 0.5)


def success_heatmap(sizes: pd.DataFrame) -> bytes:
    """One panel per domain: solved fraction per task size (rows) and generation (columns), annotated
    with solved/tasks. `sizes` is `report.success_by_size(...)`."""
    domains = sorted(sizes["domain"].unique())
    gens = sorted(sizes["generation"].unique())
    rows = int(sizes.groupby("domain")["size"].nunique().max())
    # a cell holds 'solved/tasks' at 9 pt: about 0.75 x 0.4 inches
    width = max(3.0, 0.75 * len(gens) + 1.6)
    height = max(3.0, 0.4 * rows + 1.4)
    # constrained layout: room for the shared colour bar and the axis labels (tight_layout cannot do both)
    fig, axes = plt.subplots(1, len(domains), figsize=(width * len(domains), height), dpi=100, squeeze=False,
                             layout="constrained")
    image = None
    for ax, domain in zip(axes[0], domains):
        part = sizes[sizes["domain"] == domain]
        grid = part.pivot(index="size", columns="generation", values="success").reindex(columns=gens)
        solved = part.pivot(index="size", columns="generation", values="solved").reindex(columns=gens)
        tasks = part.pivot(index="size", columns="generation", values="tasks").reindex(columns=gens)
        image = ax.imshow(grid.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                v = grid.iat[i, j]
                if pd.notna(v):
                    ax.text(j, i, f"{int(solved.iat[i, j])}/{int(tasks.iat[i, j])}", ha="center",
                            va="center", fontsize=9, color="black" if v > 0.6 else "white")
        ax.set_xticks(range(len(gens)), [str(g) for g in gens])
        ax.set_yticks(range(len(grid.index)), [str(s) for s in grid.index])
        ax.set_xlabel("generation")
        ax.set_ylabel("task size")
        ax.set_title(domain)
    fig.colorbar(image, ax=list(axes[0]), label="solved fraction (greedy)", shrink=0.9)
    return _png(fig)


def solved_counts(solved: pd.DataFrame) -> bytes:
    """Solved test tasks per generation: one line per domain, a thicker one for the total."""
    gens = [int(g) for g in solved.columns]
    colors = _colors([d for d in solved.index if d != TOTAL])
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for domain, row in solved.iterrows():
        if domain == TOTAL:
            ax.plot(gens, row.to_numpy(), "o-", color="black", linewidth=2.5, label=TOTAL)
            for g, v in zip(gens, row.to_numpy()):
                ax.annotate(str(int(v)), (g, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        else:
            ax.plot(gens, row.to_numpy(), "s--", color=colors[domain], label=domain)
    _gen_axis(ax, gens)
    ax.set_ylabel("solved test tasks (greedy)")
    _count_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Solved test tasks")
    return _png(fig)


def plan_lengths(results: pd.DataFrame) -> bytes:
    """Valid greedy plan lengths per generation: a box and the plans as points (colour = domain); the
    longest plan of each generation is a red star, the longest overall is labelled with its task."""
    gens = sorted(int(g) for g in results["generation"].unique())
    valid = results[results["solved"]]
    colors = _colors(results["domain"].unique())
    rng = np.random.default_rng(0)  # fixed jitter: byte-stable figure
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(gens) + 3), 4), dpi=100, layout="constrained")
    data = [valid.loc[valid["generation"] == g, "length"].astype(float).to_numpy() for g in gens]
    present = [i for i, d in enumerate(data) if len(d)]
    if present:
        ax.boxplot([data[i] for i in present], positions=[gens[i] for i in present], widths=0.5,
                   showfliers=False, medianprops={"color": "gray"})
    for domain, part in valid.groupby("domain", sort=True):
        x = part["generation"].to_numpy(dtype=float) + rng.uniform(-0.15, 0.15, len(part))
        ax.scatter(x, part["length"].astype(float), s=14, alpha=0.7, color=colors[domain], label=domain)
    for g, d in zip(gens, data):
        if len(d):
            ax.plot([g], [d.max()], "*", color="red", markersize=12, zorder=3)
            ax.annotate(str(int(d.max())), (g, d.max()), textcoords="offset points", xytext=(7, 0), fontsize=8)
        else:
            ax.text(g, 0.5, "none valid", ha="center", fontsize=7, rotation=90)
    if len(valid):
        top = valid.sort_values(["length", "generation", "task_id"], ascending=[False, True, True]).iloc[0]
        ax.set_title(f"Valid greedy plan lengths (longest: {int(top['length'])} steps, "
                     f"{top['task_id']}, {gen_name(int(top['generation']))})", fontsize=9)
        # beside the axes, never over a box
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.set_title("Valid greedy plan lengths (none valid)", fontsize=9)
    _gen_axis(ax, gens)
    ax.set_ylabel("plan length (steps)")
    longest = max((float(d.max()) for d in data if len(d)), default=1.0)
    ax.set_ylim(0, longest * 1.12 + 1)  # room for the star and its label
    ax.set_xlim(min(gens) - 0.6, max(gens) + 0.8)
    ax.grid(alpha=0.3)
    return _png(fig)


def curated_growth(growth: pd.DataFrame, by_origin: pd.DataFrame) -> bytes:
    """Curated dataset size per generation: bars of training plans stacked by the generation each plan
    was sampled in (one bar without origins), and a line of distinct tasks."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    gens = [int(g) for g in growth.index]
    if not gens:
        ax.text(0.5, 0.5, "no curated datasets yet (only generation 0)", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return _png(fig)
    bottom = np.zeros(len(gens))
    if len(by_origin.columns):
        cmap = plt.get_cmap("Blues")
        origins = [int(o) for o in by_origin.columns]
        for i, o in enumerate(origins):
            v = by_origin[o].reindex(growth.index, fill_value=0).to_numpy(dtype=float)
            ax.bar(gens, v, bottom=bottom, width=0.6, color=cmap(0.35 + 0.6 * i / max(1, len(origins) - 1)),
                   edgecolor="white", label=f"plans from {gen_name(o)}")
            bottom += v
    else:
        ax.bar(gens, growth["rows"].to_numpy(dtype=float), width=0.6, color="tab:blue", label="plans")
    ax.plot(gens, growth["tasks"].to_numpy(dtype=float), "o-", color="black", label="distinct tasks")
    for g, r in zip(gens, growth["rows"]):
        ax.annotate(str(int(r)), (g, r), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8)
    _gen_axis(ax, gens)
    _count_axis(ax)
    ax.set_ylabel("curated training data")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Curated dataset per generation")
    return _png(fig)


def ablations(table: pd.DataFrame) -> bytes:
    """Solved test tasks per generation, one line per run: the total, then one panel per domain.
    `table` is `report.compare_runs(...)`."""
    domains = [TOTAL] + sorted(d for d in table["domain"].unique() if d != TOTAL)
    runs = list(dict.fromkeys(table["run"]))
    gens = sorted(int(g) for g in table["generation"].unique())
    cmap = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(domains), figsize=(4.2 * len(domains), 3.8), dpi=100, squeeze=False)
    for ax, domain in zip(axes[0], domains):
        for i, run in enumerate(runs):
            part = table[(table["run"] == run) & (table["domain"] == domain)].sort_values("generation")
            # thinner lines and smaller markers on top: runs with identical results stay visible
            ax.plot(part["generation"], part["solved"], "osD^v"[i % 5] + "-", color=cmap(i % 10), label=run,
                    linewidth=max(4.5 - 0.9 * i, 1.0), markersize=max(10 - 1.5 * i, 4))
        _gen_axis(ax, gens)
        _count_axis(ax)
        ax.set_ylabel("solved test tasks (greedy)")
        ax.grid(alpha=0.3)
        ax.set_title(domain)
    axes[0][0].legend(fontsize=8)
    return _png(fig)


def monitors(table: pd.DataFrame, thresholds) -> bytes:
    """The collapse monitors per generation, a panel each, with the warning thresholds: distinct valid plans
    per task and token entropy (with the line at the ratio of generation 1's), self-copy share, lost share of
    the previously solved test tasks, length relative to the reference. Generations whose warnings trip
    are marked with a red cross in the panel of that warning. `table` is `report.monitors_table(...)`."""
    panels = [("distinct_valid_plans_per_task", "distinct valid plans / task", "distinct_plans",
               "distinct_min_ratio", True),
              ("token_entropy", "token entropy (nats)", "entropy", "entropy_min_ratio", True),
              ("self_copy_share", "self-copy share", "self_copy", "self_copy_max", False),
              ("lost_share", "lost / previously solved", "lost_tasks", "lost_max_share", False),
              ("length_ratio_to_reference", "valid length / reference", None, None, False)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.2), dpi=100, squeeze=False)
    gens = [int(g) for g in table.index]
    for ax, (col, label, alarm, key, relative) in zip(axes[0], panels):
        if not gens:
            ax.text(0.5, 0.5, "no generation >= 1", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        values = table[col].astype("float64").to_numpy()
        ax.plot(gens, values, "o-", color="tab:blue")
        if key is not None:
            limit = getattr(thresholds, key)
            first = values[0] if relative and len(values) and not np.isnan(values[0]) else None
            line = limit * first if relative and first is not None else (None if relative else limit)
            if line is not None:
                ax.axhline(line, color="tab:red", linestyle="--", linewidth=1, label="warning threshold")
            hit = [g for g, a in zip(gens, table["alarms"]) if alarm in a.split(",")]
            if hit:
                y = [0.0 if np.isnan(v) else v for g, v in zip(gens, values) if g in hit]
                ax.plot(hit, y, "x", color="tab:red", markersize=11, markeredgewidth=2.5, label="warning")
            if line is not None or hit:
                ax.legend(fontsize=7)
        _gen_axis(ax, gens)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.set_title(label, fontsize=9)
    return _png(fig)


def rl_landscape(probs: pd.DataFrame, expected: pd.DataFrame) -> bytes:
    """The reward landscape the loop climbs: left, each deployment task's estimated success probability
    (valid / K samples) under each policy, tasks sorted by domain and size (rows) and policies (columns:
    model g-1, from generation g's samples); right, the expected reward of each policy (mean over tasks) in
    all and per domain. `probs` is `rl.success_probabilities(...)`, `expected` `rl.expected_reward(...)`."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 6), dpi=100, gridspec_kw={"width_ratios": [1.4, 1]},
                                  layout="constrained")
    if probs.empty:
        for a in (ax, ax2):
            a.text(0.5, 0.5, "no deployment samples (only generation 0)", ha="center", va="center",
                   transform=a.transAxes)
            a.set_axis_off()
        return _png(fig)
    policies = sorted(int(p) for p in probs["policy"].unique())
    order = probs[["task_id", "domain", "size"]].drop_duplicates("task_id").sort_values(
        ["domain", "size", "task_id"], kind="mergesort")
    grid = probs.pivot(index="task_id", columns="policy", values="p").reindex(index=order["task_id"],
                                                                              columns=policies)
    image = ax.imshow(grid.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis", aspect="auto",
                      interpolation="nearest")
    ax.set_xticks(range(len(policies)), [str(p) for p in policies])
    ax.set_xlabel("policy (model g-1, sampled in generation g)")
    # one label per (domain, size) block, a line between domains
    labels, ticks, previous = [], [], None
    for i, (domain, size) in enumerate(zip(order["domain"], order["size"])):
        if (domain, size) != previous:
            ticks.append(i)
            labels.append(f"{domain} {size}")
            if previous is not None and previous[0] != domain:
                ax.axhline(i - 0.5, color="white", linewidth=1.5)
            previous = (domain, size)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_ylabel("deployment task (domain, size)")
    ax.set_title("success probability per task (valid / K)", fontsize=10)
    fig.colorbar(image, ax=ax, label="estimated success probability", shrink=0.8)
    colors = _colors([d for d in expected["domain"].unique() if d != TOTAL])
    for domain, part in expected.groupby("domain", sort=True):
        part = part.sort_values("policy")
        total = domain == TOTAL
        ax2.errorbar(part["policy"], part["reward"], yerr=part["stderr"], fmt="o-" if total else "s--",
                     color="black" if total else colors[domain], linewidth=2.5 if total else 1.2,
                     capsize=3, label=domain)
    ax2.set_xticks(policies)
    ax2.set_xlabel("policy (model)")
    ax2.set_ylabel("expected reward (mean success probability)")
    ax2.set_ylim(0, 1.02)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    ax2.set_title("expected 0/1 reward on the deployment tasks", fontsize=10)
    return _png(fig)


def rl_weights(weights: pd.DataFrame) -> bytes:
    """What the accumulation implies: per training generation, the share of its curated set drawn by each
    behaviour policy (stacked bars) and the mean weight 1/p of a kept plan relative to on-policy REINFORCE
    (points, right axis). `weights` is `rl.implied_weights(...)`."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if weights.empty:
        ax.text(0.5, 0.5, "no curated plans with an origin", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return _png(fig)
    gens = sorted(int(g) for g in weights["generation"].unique())
    origins = sorted(int(o) for o in weights["origin_generation"].unique())
    cmap = plt.get_cmap("Blues")
    bottom = np.zeros(len(gens))
    for i, o in enumerate(origins):
        part = weights[weights["origin_generation"] == o].set_index("generation")["share"]
        v = part.reindex(gens, fill_value=0).to_numpy(dtype=float)
        ax.bar(gens, v, bottom=bottom, width=0.6, color=cmap(0.35 + 0.6 * i / max(1, len(origins) - 1)),
               edgecolor="white", label=f"drawn by policy {o - 1} (gen {o})")
        bottom += v
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of the curated set")
    _gen_axis(ax, gens)
    ax2 = ax.twinx()
    w = weights.dropna(subset=["mean_weight"])
    ax2.scatter(w["generation"] + 0.18 * (w["origin_generation"] - w["generation"]) / max(1, len(origins)),
                w["mean_weight"].astype(float), color="tab:red", marker="D", s=22, zorder=3,
                label="mean weight 1/p per kept plan")
    ax2.set_ylabel("weight vs on-policy REINFORCE (1/p)", color="tab:red")
    ax2.set_ylim(bottom=0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)
    ax.set_title("the accumulated curated set as importance-weighted REINFORCE", fontsize=10)
    return _png(fig)


def grpo_vs_loop(loop: pd.DataFrame, grpo: pd.DataFrame) -> bytes:
    """Solved test tasks (greedy) against plans sampled (left) and against training seconds (right): the loop's
    generations and GRPO's checkpoints. `loop` is `rl_view.loop_budget(...)`, `grpo` `rl_view.grpo_budget(...)`."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    for ax, col, label in ((axes[0], "samples", "plans sampled"), (axes[1], "wall_s", "training seconds "
                                                                    "(sampling, reward/validation, updates)")):
        for name, df, style, color in (("iterative deployment", loop, "o-", "tab:blue"),
                                       ("GRPO (validator reward)", grpo, "s--", "tab:orange")):
            part = df.dropna(subset=[col])
            if len(part):
                ax.plot(part[col].astype(float), part["solved"].astype(float), style, color=color, label=name)
                for x, y in zip(part[col].astype(float), part["solved"].astype(float)):
                    ax.annotate(str(int(y)), (x, y), textcoords="offset points", xytext=(0, 6), ha="center",
                                fontsize=7, color=color)
        ax.set_xlabel(label)
        ax.set_ylabel("solved test tasks (greedy)")
        _count_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("on the same budget of sampled plans", fontsize=10)
    axes[1].set_title("against wall time", fontsize=10)
    return _png(fig)
