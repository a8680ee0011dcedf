"""Benchmark: training throughput of the embedded model by thread setting, on an idle and a busy machine.

The machine states are made here: idle (nothing else; run this on an otherwise idle machine), one
and two busy processes beside the measurement (Python busy loops). Settings: 2 threads with OpenMP's
default ACTIVE waiting, 2 threads PASSIVE, 1 thread, and `auto` (iterdeploy's choice at process
start, iterdeploy.threads: PASSIVE when other processes keep the CPUs busy). Each cell is a fresh
process (OMP_WAIT_POLICY is read when torch loads) training the default embedded model for a few
steps of the pre-training loop on the task stream; the table gives tokens per second.

    python benchmarks/threads.py               # ~9 minutes
    python benchmarks/threads.py --repeats 3   # the median of 3 runs per cell, ~27 minutes
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import time

CELL = r"""
import os, sys, time
setting = sys.argv[1]
if setting == "auto":
    from iterdeploy.threads import choose_wait_policy
    policy = choose_wait_policy()
import torch
from iterdeploy.model.embedded import EmbeddedModelConfig, new_embedded_model
from iterdeploy.model.pretrain_loop import LoopConfig, pretrain_loop
from iterdeploy.model.stream import DomainRange, TaskStream
from iterdeploy.model.tokenizer import build_tokenizer
from iterdeploy.prompts.compact import CompactFormat
threads = 1 if setting == "1 thread" else 2
torch.set_num_threads(threads)
cfg = EmbeddedModelConfig()
tok = build_tokenizer(list(cfg.domains), cfg.max_objects)
stream = TaskStream([DomainRange("blocksworld", 2, 5), DomainRange("ferry", 1, 4), DomainRange("spanner", 1, 3)],
                    CompactFormat.for_tokenizer(tok))
steps = int(sys.argv[2])
examples = iter([e for e, _ in zip(stream, range(32 * (steps + 4) * 2))])
model = new_embedded_model(cfg, tok)
pretrain_loop(model, tok, examples, LoopConfig(steps=4, batch_size=32, window=2, log_every=10**6), log=lambda m: None)
stats = pretrain_loop(model, tok, examples, LoopConfig(steps=steps, batch_size=32, window=2, log_every=10**6),
                      log=lambda m: None)
print(stats["train_tokens_per_s"], os.environ.get("OMP_WAIT_POLICY", "ACTIVE (default)"))
"""
SETTINGS = {"2 threads": {"OMP_WAIT_POLICY": "ACTIVE"}, "2 threads, PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
            "1 thread": {}, "auto": {}}


def _busy() -> None:
    while True:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--repeats", type=int, default=1, help="runs per cell, the median reported (default 1)")
    args = ap.parse_args(argv)
    rows = []
    for busy in (0, 1, 2):
        hogs = [mp.Process(target=_busy, daemon=True) for _ in range(busy)]
        for h in hogs:
            h.start()
        time.sleep(1.0)
        runs: dict[str, list[tuple[float, str]]] = {name: [] for name in SETTINGS}
        for _ in range(args.repeats):  # settings interleaved, so a change in the machine's state hits them all
            for name, extra in SETTINGS.items():
                env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
                env.update(extra)
                out = subprocess.run([sys.executable, "-c", CELL, name, str(args.steps)], env=env,
                                     capture_output=True, text=True, check=True).stdout.split()
                runs[name].append((float(out[0]), out[1] if name == "auto" else ""))
        row = [sorted(runs[name])[len(runs[name]) // 2] for name in SETTINGS]
        for h in hogs:
            h.terminate()
        rows.append((["idle", "one busy process beside it", "two busy processes beside it"][busy], row))
    print(f"training tokens/s of the default embedded model (pre-training loop, batch 32, {args.steps} steps; "
          f"median of {args.repeats} run(s) per cell)\n")
    print("| machine state | " + " | ".join(SETTINGS) + " |")
    print("|---|" + "---:|" * len(SETTINGS))
    for state, row in rows:
        cells = [f"{rate:,.0f}" + (f" ({policy})" if policy else "") for rate, policy in row]
        print(f"| {state} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
