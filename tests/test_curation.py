"""Curation rules on hand-made validated samples: each of filter, per_task, accumulate, dedupe."""

from __future__ import annotations

import pandas as pd
import pytest

from iterdeploy import curation
from iterdeploy.curation import CURATED_COLUMNS, CurationConfig, curate


def _samples(gen: int, rows: list[tuple[str, int, int, bool]]) -> pd.DataFrame:
    """rows: (task_id, sample_index, plan_length, valid); the plan text encodes length and origin."""
    out = []
    for task, idx, length, valid in rows:
        out.append({
            "task_id": task, "domain": task.split("-")[0], "size": 3, "generation": gen, "sample_index": idx,
            "sample_id": f"gen_{gen:03d}/{task}/{idx}", "model_hash": f"m{gen - 1}",
            "plan": "".join(f"(a{gen}x{idx}s{i})\n" for i in range(length)), "plan_length": length,
            "valid": valid, "completion": "...",
        })
    return pd.DataFrame(out)


G1 = _samples(1, [
    ("bw-1", 0, 5, True), ("bw-1", 1, 3, True), ("bw-1", 2, 2, False), ("bw-1", 3, 3, True),
    ("bw-2", 0, 4, False), ("bw-2", 1, 6, False),
    ("fe-1", 0, 7, True),
])
G2 = _samples(2, [
    ("bw-1", 0, 4, True),                       # longer than gen 1's 3: gen 1's plan stays under shortest
    ("bw-2", 0, 8, True),                       # first valid plan of bw-2
    ("fe-1", 0, 6, True), ("fe-1", 1, 6, True),  # shorter than gen 1's 7; tie within gen 2
])


def _origins(df):
    return sorted(zip(df["task_id"], df["origin_generation"], df["origin_sample_index"]))


def test_default_is_papers_rule_valid_shortest_accumulated():
    c1 = curate(G1, None, generation=1)
    assert list(c1.columns) == list(CURATED_COLUMNS)
    assert _origins(c1) == [("bw-1", 1, 1), ("fe-1", 1, 0)]  # bw-2 has no valid plan; ties -> lowest index
    assert c1["valid"].all()
    c2 = curate(G2, c1, generation=2)
    assert _origins(c2) == [("bw-1", 1, 1), ("bw-2", 2, 0), ("fe-1", 2, 0)]
    assert dict(zip(c2["task_id"], c2["plan_length"])) == {"bw-1": 3, "bw-2": 8, "fe-1": 6}
    # every row keeps where it came from
    row = c2[c2["task_id"] == "bw-1"].iloc[0]
    assert row["origin_sample_id"] == "gen_001/bw-1/1" and row["origin_model_hash"] == "m0"


def test_filter_none_keeps_invalid():
    c1 = curate(G1, None, CurationConfig(filter="none"), generation=1)
    assert _origins(c1) == [("bw-1", 1, 2), ("bw-2", 1, 0), ("fe-1", 1, 0)]
    assert not c1.set_index("task_id").loc["bw-1", "valid"]


def test_per_task_first():
    c1 = curate(G1, None, CurationConfig(per_task="first"), generation=1)
    assert _origins(c1) == [("bw-1", 1, 0), ("fe-1", 1, 0)]
    c2 = curate(G2, c1, CurationConfig(per_task="first"), generation=2)
    assert _origins(c2) == [("bw-1", 1, 0), ("bw-2", 2, 0), ("fe-1", 1, 0)]  # earliest stays


def test_per_task_all_with_dedupe():
    c1 = curate(G1, None, CurationConfig(per_task="all"), generation=1)
    assert len(c1) == 4 and set(c1["task_id"]) == {"bw-1", "fe-1"}
    dup = pd.concat([G1, G1.assign(sample_index=G1["sample_index"] + 10,
                                   sample_id=G1["sample_id"] + "b")], ignore_index=True)
    assert len(curate(dup, None, CurationConfig(per_task="all"), generation=1)) == 4
    assert len(curate(dup, None, CurationConfig(per_task="all", dedupe=False), generation=1)) == 8


def test_per_task_random_is_seeded_and_order_free():
    a = curate(G1, None, CurationConfig(per_task="random", seed=3), generation=1)
    b = curate(G1.iloc[::-1].reset_index(drop=True), None, CurationConfig(per_task="random", seed=3), generation=1)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 2 and a["valid"].all()
    picks = {tuple(curate(G1, None, CurationConfig(per_task="random", seed=s), generation=1)["origin_sample_index"])
             for s in range(12)}
    assert len(picks) > 1, "the seed never changes the choice"


def test_accumulate_false_uses_this_generation_only():
    c1 = curate(G1, None, generation=1)
    c2 = curate(G2, c1, CurationConfig(accumulate=False), generation=2)
    assert _origins(c2) == [("bw-1", 2, 0), ("bw-2", 2, 0), ("fe-1", 2, 0)]
    # accumulate keeps tasks a later generation no longer solves
    g3 = _samples(3, [("bw-1", 0, 9, False)])
    assert set(curate(g3, c2, generation=3)["task_id"]) == {"bw-1", "bw-2", "fe-1"}
    assert curate(g3, c2, CurationConfig(accumulate=False), generation=3).empty


def test_filter_valid_drops_invalid_rows_of_previous_dataset():
    prev = curate(G1, None, CurationConfig(filter="none"), generation=1)
    c2 = curate(G2.iloc[:0], prev, CurationConfig(filter="valid"), generation=2)
    # bw-1's shortest sample was invalid, so only fe-1 survives
    assert c2["valid"].all() and set(c2["task_id"]) == {"fe-1"}


def test_output_is_canonical_and_typed():
    a = curate(G1, None, CurationConfig(per_task="all"), generation=1)
    b = curate(G1.sample(frac=1, random_state=1), None, CurationConfig(per_task="all"), generation=1)
    pd.testing.assert_frame_equal(a, b)
    assert {c: str(t) for c, t in a.dtypes.items()} == CURATED_COLUMNS | {"plan": "string", "task_id": "string"}
    empty = curation.empty()
    assert list(empty.columns) == list(CURATED_COLUMNS) and len(empty) == 0
    assert curate(G1.iloc[:0], None, generation=1).shape == (0, len(CURATED_COLUMNS))


def test_bad_rule_and_missing_columns():
    with pytest.raises(ValueError, match="longest"):
        curate(G1, None, CurationConfig(per_task="longest"))
    with pytest.raises(ValueError, match="lack columns"):
        curate(G1.drop(columns=["plan"]), None)


def test_summary():
    s = curation.summary(curate(G2, curate(G1, None, generation=1), generation=2))
    assert s["rows"] == 3 and s["tasks"] == 3 and s["valid"] == 3
    assert s["by_origin_generation"] == {"1": 1, "2": 2}


def test_rule_violations_find_what_breaks_the_configured_rule():
    ok = curate(G1, None, generation=1)
    assert curation.rule_violations(ok, CurationConfig()) == []
    every = curate(G1, None, CurationConfig(filter="none", per_task="all", dedupe=False), generation=1)
    problems = curation.rule_violations(every, CurationConfig())
    assert any("invalid plans" in p for p in problems) and any("more than one plan" in p for p in problems)
    assert curation.rule_violations(every, CurationConfig(filter="none", per_task="all", dedupe=False)) == []
