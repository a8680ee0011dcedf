"""Evaluation metrics and plots on hand-made results frames."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from iterdeploy.evaluation import headline, history_row, metrics, not_worse, pass_at_k, solved_line, task_table
from iterdeploy.pipeline.plots import progress_png


def _results(rows):
    """rows: (task_id, size, ref_len, mode, sample_index, plan_length, valid, error)"""
    return pd.DataFrame([{
        "task_id": t, "domain": t.split("-")[0], "size": s, "reference_length": r, "mode": m,
        "sample_index": i, "completion": "", "plan": "", "plan_length": n, "valid": v, "error": e,
    } for t, s, r, m, i, n, v, e in rows])


GEN0 = _results([
    ("bw-1", 3, 4, "greedy", 0, 4, True, None),
    ("bw-1", 3, 4, "sample", 0, 4, True, None), ("bw-1", 3, 4, "sample", 1, 2, False, "goal"),
    ("bw-2", 5, 8, "greedy", 0, 3, False, "precondition"),
    ("bw-2", 5, 8, "sample", 0, 3, False, "precondition"), ("bw-2", 5, 8, "sample", 1, 1, False, "syntax"),
    ("fe-1", 3, None, "greedy", 0, 6, True, None),
    ("fe-1", 3, None, "sample", 0, 6, True, None), ("fe-1", 3, None, "sample", 1, 6, True, None),
])
GEN1 = _results([
    ("bw-1", 3, 4, "greedy", 0, 2, False, "goal"),
    ("bw-1", 3, 4, "sample", 0, 5, True, None), ("bw-1", 3, 4, "sample", 1, 2, False, "goal"),
    ("bw-2", 5, 8, "greedy", 0, 10, True, None),
    ("bw-2", 5, 8, "sample", 0, 12, True, None), ("bw-2", 5, 8, "sample", 1, 1, False, "syntax"),
    ("fe-1", 3, None, "greedy", 0, 6, True, None),
    ("fe-1", 3, None, "sample", 0, 6, True, None), ("fe-1", 3, None, "sample", 1, 6, True, None),
])


def test_pass_at_k():
    assert pass_at_k(2, 0, 2) == 0.0
    assert pass_at_k(2, 1, 2) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)
    assert pass_at_k(0, 0, 3) == 0.0


def test_metrics_gen0():
    m = metrics(GEN0, generation=0, k=2)
    assert m["tasks"] == 3 and m["k"] == 2
    assert m["solved"] == {"greedy": pytest.approx(2 / 3), "pass_at_k": pytest.approx(2 / 3)}
    assert m["solved_count"] == {"greedy": 2, "pass_at_k": 2}
    assert m["by_domain"]["bw"] == {"tasks": 2, "greedy": 0.5, "pass_at_k": 0.5, "solved_greedy": 1,
                                    "longest_greedy": 4}
    assert m["by_domain"]["fe"]["greedy"] == 1.0 and m["by_domain"]["fe"]["longest_greedy"] == 6
    assert set(m["by_size"]) == {"3", "5"} and m["by_size"]["5"]["greedy"] == 0.0
    assert m["by_domain_size"]["bw"]["5"] == {"tasks": 1, "greedy": 0.0, "pass_at_k": 0.0}
    assert m["by_domain_size"]["bw"]["3"]["greedy"] == 1.0 and set(m["by_domain_size"]["fe"]) == {"3"}
    assert m["longest_greedy"] == 6
    assert m["plan_length"]["greedy"] == {"count": 2, "mean": 5.0, "median": 5.0, "min": 4, "max": 6}
    assert m["longest_valid"]["task_id"] == "fe-1" and m["longest_valid"]["length"] == 6
    assert m["vs_reference"]["compared"] == 1 and m["vs_reference"]["mean_ratio"] == 1.0
    assert m["vs_previous"] is None
    assert m["errors"] == {"goal": 1, "none": 5, "precondition": 2, "syntax": 1}
    json.dumps(m)  # JSON-serialisable as is


def test_newly_solved_and_lost():
    m = metrics(GEN1, generation=1, k=2, previous_results=GEN0, previous_generation=0)
    vp = m["vs_previous"]
    assert vp["previous_generation"] == 0
    assert vp["greedy"] == {"n_newly_solved": 1, "n_lost": 1, "newly_solved": ["bw-2"], "lost": ["bw-1"]}
    assert vp["pass_at_k"]["newly_solved"] == ["bw-2"] and vp["pass_at_k"]["lost"] == []
    assert m["longest_greedy"] == 10 and m["by_domain"]["bw"]["longest_greedy"] == 10  # samples (12) not counted
    assert m["vs_reference"]["compared"] == 1 and m["vs_reference"]["mean_ratio"] == 1.25
    assert m["longest_valid"] == {"task_id": "bw-2", "domain": "bw", "size": 5, "length": 12, "mode": "sample"}


def test_greedy_off_uses_samples():
    only = GEN0[GEN0["mode"] == "sample"]
    m = metrics(only, generation=0, k=2)
    assert m["solved"]["greedy"] is None and m["solved"]["pass_at_k"] == pytest.approx(2 / 3)
    assert headline(m, 0)["solved"] is None
    t = task_table(only, 2)
    assert t["greedy"].isna().all()


def test_headline_counts_with_totals_per_domain():
    m = metrics(GEN1, 1, 2, GEN0, 0)
    h = headline(m, curated_rows=7)
    assert h["generation"] == 1 and h["solved"] == m["solved_count"]["greedy"] and h["tasks"] == m["tasks"]
    assert h["curated"] == 7 and h["longest_plan"] == 10
    assert h["by_domain"]["bw"] == {"solved": m["by_domain"]["bw"]["solved_greedy"],
                                    "tasks": m["by_domain"]["bw"]["tasks"], "longest_plan": 10}
    line = solved_line(h)
    assert line.startswith(f"solved {h['solved']}/{h['tasks']} (") and "longest plan 10" in line
    json.dumps(h)


def test_not_worse():
    m0, m1 = headline(metrics(GEN0, 0, 2), 0), headline(metrics(GEN1, 1, 2, GEN0, 0), 3)
    assert not_worse(m1, m0)[0]
    worse = headline(metrics(GEN0.assign(valid=False), 2, 2), 3)
    ok, why = not_worse(worse, m1)
    assert not ok and "worse" in why and f"of {worse['tasks']}" in why
    assert not_worse(m0, None) == (True, "no previous generation")


def test_plot_is_png_and_deterministic():
    hist = [history_row(metrics(GEN0, 0, 2)), history_row(metrics(GEN1, 1, 2, GEN0, 0))]
    a, b = progress_png(hist), progress_png(hist)
    assert a[:8] == b"\x89PNG\r\n\x1a\n" and a == b
    assert progress_png(hist[:1])[:4] == b"\x89PNG"
