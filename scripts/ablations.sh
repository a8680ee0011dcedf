#!/usr/bin/env bash
# The ablations of the default experiment as DVC experiments with the same seeds (issue: curation and
# initialisation rules side by side). Run after `iterdeploy run` has finished and its dvc.lock is committed:
# generation 0 (the bootstrap) comes from DVC's run cache, so each variant runs only its generations.
#   bash scripts/ablations.sh          # queue the four variants and run them, JOBS at a time (default 1:
#                                      # each stage already uses params.yaml `threads` cores)
#   (the script ends with a dvc exp show that fits a terminal: the default and every variant side by side)
#   .venv/bin/iterdeploy report --experiments   # reports/ablations.md and .png from the same numbers
set -euo pipefail
cd "$(dirname "$0")/.."
# The stages call `iterdeploy` (.venv); the queue's workers call `dvc` (.venv-dvc, its own environment).
export PATH="$PWD/.venv/bin:$PWD/.venv-dvc/bin:$PATH"
DVC=${ITERDEPLOY_DVC:-dvc}
queue() { "$DVC" exp run --queue --name "$1" "${@:2}"; }
queue filter-none       -S curation.filter=none         # train on every sample, valid or not
queue no-accumulate     -S curation.accumulate=false    # generation g's valid plans only
queue per-task-first    -S curation.per_task=first      # the first valid plan per task, not the shortest
queue init-previous     -S training.init_from=previous  # fine-tune checkpoint g-1 instead of the base
"$DVC" queue start --jobs "${JOBS:-1}"
# `dvc queue start` returns at once; wait until the queue is empty, then show the results.
# (grep without -q: with pipefail, -q closes the pipe early and the SIGPIPE ends the loop at once)
while "$DVC" queue status 2>/dev/null | grep -E "Queued|Running" >/dev/null; do sleep 20; done
"$DVC" queue status
"$DVC" exp show --no-pager --only-changed --drop 'Created|by_domain|monitors|generation|tasks|runs/|data/|models/' \
  --keep '^(solved|pass_at_k|longest_plan|curated)$'
