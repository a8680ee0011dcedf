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
