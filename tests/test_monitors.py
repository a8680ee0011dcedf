"""Collapse monitors on hand-made frames: distinct plans, length against the reference, entropy, self-copies."""

from __future__ import annotations

import pandas as pd

from iterdeploy.monitors import monitors

VALIDATED = pd.DataFrame([
    {"task_id": "a", "plan": "(x)\n", "plan_length": 1, "valid": True, "entropy": 0.5},
    {"task_id": "a", "plan": "(x)\n", "plan_length": 1, "valid": True, "entropy": 0.3},
    {"task_id": "a", "plan": "(y)\n(z)\n", "plan_length": 2, "valid": True, "entropy": 0.4},
    {"task_id": "b", "plan": "(w)\n(w)\n", "plan_length": 2, "valid": True, "entropy": 0.2},
    {"task_id": "c", "plan": "", "plan_length": 0, "valid": False, "entropy": 1.6},
])
REFERENCE = pd.Series({"a": 1, "b": 4, "c": 3})


def test_monitors_of_a_generation():
    before = pd.DataFrame([{"task_id": "a", "plan": "(x)\n"}, {"task_id": "b", "plan": "(q)\n"}])
    m = monitors(VALIDATED, before, REFERENCE, lost_tasks=2)
    assert m["distinct_valid_plans_per_task"] == 1.5  # a: 2 distinct, b: 1
    assert m["length_ratio_to_reference"] == round((1 + 1 + 2 + 0.5) / 4, 4)
    assert m["token_entropy"] == round((0.5 + 0.3 + 0.4 + 0.2 + 1.6) / 5, 4)
    assert m["self_copy_share"] == 0.5  # two of the four valid samples repeat (a, (x))
    assert m["lost_tasks"] == 2


def test_monitors_without_valid_samples_or_history():
    none_valid = VALIDATED.assign(valid=False)
    m = monitors(none_valid, None, REFERENCE, None)
    assert m["distinct_valid_plans_per_task"] is None and m["length_ratio_to_reference"] is None
    assert m["self_copy_share"] is None and m["token_entropy"] is not None
    assert monitors(VALIDATED, None, REFERENCE, 0)["self_copy_share"] == 0.0
