"""The RL view of iterative deployment: the validator's implicit 0/1 reward, written down.

Small pure functions (TRL style: rewards and estimators apart from any trainer); nothing here reads
files or runs a model.

- `validator_reward(fmt, task, completion, seed)`: the reward the loop never writes down: 1.0 when the
  completion states a plan the validator accepts, else 0.0. The GRPO baseline trains on exactly this.
- `success_probabilities(samples)`: per deployment task and policy, the success probability estimated
  from its K samples (valid / K). Generation g's samples are drawn by model g-1, so the estimate of
  generation g describes policy g-1.
- `expected_reward(probs)`: the policy's expected reward per generation, the mean success probability
  over the deployment tasks (and its standard error), in all and per domain.
- `implied_weights(curated, probs)`: what the accumulated curated set is as a policy-gradient
  estimator: per training generation g and origin generation o, the plans of D_g sampled by policy o-1,
  their share of D_g (the mixture weight of behaviour policy o-1), how stale that policy is (g-o
  generations) and the weight 1/p̂ each kept plan carries relative to on-policy REINFORCE on its own
  samples (one plan per task stands for the K·p̂ valid samples REINFORCE would weight 1/K each).
  docs/rl.md derives it.
"""

from __future__ import annotations

import math

import pandas as pd

from iterdeploy.planning import validate

SAMPLE_COLUMNS = ("generation", "task_id", "domain", "size", "valid")
"""Columns of the validated-plans rows `success_probabilities` reads (one row per sample)."""


def validator_reward(fmt, task, completion: str, seed: int) -> float:
    """1.0 if `completion` (model output in prompt format `fmt`, objects renamed with `seed`) is a valid plan
    for `task`, else 0.0: the validator's verdict, the reward iterative deployment optimises implicitly."""
    plan = fmt.plan_from_completion(task, completion, seed)
    return 1.0 if validate(task, plan).valid else 0.0


def success_probabilities(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per (generation, deployment task), sorted by domain, size, task and generation: generation
    (whose samples), policy (the model that drew them: generation - 1), task_id, domain, size, n (samples),
    valid (valid samples), p (valid / n, the estimated success probability of that policy on that task)."""
    missing = [c for c in SAMPLE_COLUMNS if c not in samples.columns]
    if missing:
        raise ValueError(f"samples lack columns {', '.join(missing)}")
    if samples.empty:
        return pd.DataFrame({"generation": pd.Series([], dtype="int64"), "policy": pd.Series([], dtype="int64"),
                             "task_id": pd.Series([], dtype=str), "domain": pd.Series([], dtype=str),
                             "size": pd.Series([], dtype="int64"), "n": pd.Series([], dtype="int64"),
                             "valid": pd.Series([], dtype="int64"), "p": pd.Series([], dtype="float64")})
    df = samples.assign(valid=samples["valid"].fillna(False).astype(bool))
    out = df.groupby(["generation", "task_id", "domain", "size"], sort=False).agg(
        n=("valid", "size"), valid=("valid", "sum")).reset_index()
    out = out.astype({"generation": "int64", "size": "int64", "n": "int64", "valid": "int64"})
    out["p"] = out["valid"] / out["n"]
    out.insert(1, "policy", out["generation"] - 1)
    return out.sort_values(["domain", "size", "task_id", "generation"], kind="mergesort").reset_index(drop=True)


def expected_reward(probs: pd.DataFrame) -> pd.DataFrame:
    """Per (generation, domain; 'total' included): policy, tasks, solved (tasks with a valid sample),
    reward (mean success probability over the tasks: the policy's expected 0/1 reward on the deployment
    distribution) and stderr (its standard error over tasks; 0 with one task)."""
    rows = []
    for gen, part in probs.groupby("generation", sort=True):
        for domain, sub in [*part.groupby("domain", sort=True), ("total", part)]:
            p = sub["p"].astype("float64")
            se = float(p.std(ddof=1) / math.sqrt(len(p))) if len(p) > 1 else 0.0
            rows.append({"generation": int(gen), "policy": int(gen) - 1, "domain": str(domain), "tasks": int(len(p)),
                         "solved": int((sub["valid"] > 0).sum()), "reward": float(p.mean()), "stderr": se})
    return pd.DataFrame(rows, columns=["generation", "policy", "domain", "tasks", "solved", "reward", "stderr"])


def implied_weights(curated: pd.DataFrame, probs: pd.DataFrame) -> pd.DataFrame:
    """The accumulated curated sets as importance-weighted REINFORCE (see the module doc and docs/rl.md).

    `curated`: one row per training plan with generation (whose dataset), task_id, origin_generation;
    `probs`: `success_probabilities(...)`. One row per (generation g, origin o): plans, share (of D_g),
    behaviour_policy (o - 1), staleness (g - o: generations between the policy that drew the plans and the
    last policy, g - 1, whose samples are on-policy), mean_p (mean success probability of policy o - 1 on
    those plans' tasks) and mean_weight (mean of 1/p over the plans: the weight one kept plan carries
    relative to on-policy REINFORCE, where its task's valid samples would weigh p in all)."""
    cols = ["generation", "origin_generation", "plans", "share", "behaviour_policy", "staleness", "mean_p",
            "mean_weight"]
    known = curated.dropna(subset=["origin_generation"])
    if known.empty:
        return pd.DataFrame(columns=cols)
    p = probs.set_index(["generation", "task_id"])["p"]
    keys = pd.MultiIndex.from_arrays([known["origin_generation"].astype("int64"), known["task_id"].astype(str)])
    known = known.assign(p=p.reindex(keys).to_numpy(), origin_generation=known["origin_generation"].astype("int64"))
    sizes = known.groupby("generation").size()
    rows = []
    for (g, o), part in known.groupby(["generation", "origin_generation"], sort=True):
        pv = part["p"].astype("float64")
        weights = (1.0 / pv[pv > 0])
        rows.append({"generation": int(g), "origin_generation": int(o), "plans": int(len(part)),
                     "share": float(len(part) / sizes[g]), "behaviour_policy": int(o) - 1, "staleness": int(g - o),
                     "mean_p": None if pv.dropna().empty else float(pv.mean()),
                     "mean_weight": None if weights.empty else float(weights.mean())})
    return pd.DataFrame(rows, columns=cols)
