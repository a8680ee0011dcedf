"""The evaluation stage's progress plot across generations, from history.json rows
(`iterdeploy.evaluation.history_row`).

Byte-stable output: the Agg backend, fixed size and dpi, no timestamp or software
tag in the PNG metadata, so the same metrics give the same file.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from iterdeploy.artifacts import write_bytes  # noqa: E402


def _series(history: list[dict], get) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for m in history:
        try:
            v = get(m)
        except (KeyError, TypeError):
            v = None
        if v is not None:
            xs.append(int(m["generation"]))
            ys.append(float(v))
    return xs, ys


def progress_png(history: list[dict]) -> bytes:
    """Solved fraction (greedy, pass@k, per domain) and valid plan length across generations."""
    history = sorted(history, key=lambda m: m["generation"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    k = history[-1].get("k")
    for key, style, label in (("solved_greedy", "o-", "all (greedy)"), ("solved_pass_at_k", "s--", f"all (pass@{k})")):
        xs, ys = _series(history, lambda m: m[key])
        if xs:
            ax1.plot(xs, ys, style, linewidth=2, label=label)
    domains = sorted({d for m in history for d in m.get("by_domain", {})})
    mode = "greedy" if any(m.get("solved_greedy") is not None for m in history) else "pass_at_k"
    for d in domains:
        xs, ys = _series(history, lambda m: m["by_domain"][d][mode])
        if xs:
            ax1.plot(xs, ys, ".:", alpha=0.8, label=f"{d} ({mode.replace('_at_', '@')})")
    ax1.set_xlabel("generation")
    ax1.set_ylabel("solved fraction of test tasks")
    ax1.set_ylim(-0.02, 1.02)
    ax1.grid(alpha=0.3)
    if ax1.get_legend_handles_labels()[0]:
        ax1.legend(fontsize=7, loc="best")
    ax1.set_title("Solved")

    for key, style, label in (("mean_length_greedy", "o-", "mean (greedy)"), ("max_length", "^--", "max")):
        xs, ys = _series(history, lambda m: m[key])
        if xs:
            ax2.plot(xs, ys, style, label=label)
    xs, ys = _series(history, lambda m: m["length_ratio"])
    if xs:
        ax3 = ax2.twinx()
        ax3.plot(xs, ys, "x:", color="gray", label="length / reference")
        ax3.set_ylabel("length / reference (mean)")
        ax3.legend(fontsize=7, loc="lower right")
    ax2.set_xlabel("generation")
    ax2.set_ylabel("valid plan length (steps)")
    ax2.grid(alpha=0.3)
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(fontsize=7, loc="upper left")
    else:
        ax2.text(0.5, 0.5, "no valid plans yet", ha="center", va="center", transform=ax2.transAxes)
    ax2.set_title("Plan length")
    gens = [int(m["generation"]) for m in history]
    for ax in (ax1, ax2):
        ax.set_xticks(gens)
        if len(gens) == 1:
            ax.set_xlim(gens[0] - 0.5, gens[0] + 0.5)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def write_progress(path: str | Path, history: list[dict]) -> Path:
    """Write `progress_png(history)` atomically to `path`."""
    return write_bytes(path, progress_png(history))
