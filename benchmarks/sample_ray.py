"""Benchmark: sampling with the local executor against the Ray executor with 1 and 2 workers, same rows.

All three runs sample the same (task, sample) rows from the same model with `iterdeploy.model.sampling.sample`
(what the samples and evaluation stages call) and must return identical rows (checked). The Ray runs use a
local cluster started once (`ray.init`, timed on its own line); each Ray run starts its workers, loads
one model replica per worker, decodes the local executor's batches on them and stops them, as a stage
does. Columns:

- wall s: wall-clock seconds of the `sample` call; `ready s` the part before the workers were ready
  (worker processes started, torch imported, model loaded and its hash checked), `decode s` the rest;
- CPU s: CPU seconds of this process and every process under it (Ray's GCS, raylet, workers), sampled
  every 0.2 s with psutil (a process that exits between two samples loses at most that much);
- rows/s: rows per wall-clock second of the call; `vs local`: its wall time over the local run's.

On a machine shared with other jobs the wall-clock columns measure the neighbours too: compare the
CPU seconds, and run it twice.

    python benchmarks/sample_ray.py                                  # random embedded model, ~2 minutes
    python benchmarks/sample_ray.py --cpus 2 --tasks 64 --k 8 --max-new-tokens 128 --workers 1,2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample import prompts_for, random_model  # noqa: E402  (benchmarks/sample.py)


class TreeCPU:
    """CPU seconds of this process and its descendants, polled in a thread."""

    def __init__(self, every: float = 0.2):
        import psutil

        self.psutil, self.every = psutil, every
        self.seen: dict[tuple[int, float], float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _snapshot(self) -> None:
        me = self.psutil.Process()
        for p in [me] + me.children(recursive=True):
            try:
                key, t = (p.pid, p.create_time()), p.cpu_times()
            except self.psutil.Error:
                continue
            with self.lock:
                self.seen[key] = t.user + t.system

    def _poll(self) -> None:
        while not self.stop.is_set():
            self._snapshot()
            time.sleep(self.every)

    def total(self) -> float:
        self._snapshot()
        with self.lock:
            return sum(self.seen.values())

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="model folder (default: a random embedded model of the default size)")
    ap.add_argument("--tasks", type=int, default=48, help="prompts (default 48)")
    ap.add_argument("--k", type=int, default=8, help="samples per prompt (default 8)")
    ap.add_argument("--sizes", default="3,4,5", help="task sizes, cycled")
    ap.add_argument("--domains", default="blocksworld,ferry,spanner", help="task domains, cycled")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the local run and of each worker")
    ap.add_argument("--workers", default="1,2", help="Ray worker counts to run (default 1,2)")
    ap.add_argument("--cpus", type=int, default=os.cpu_count(), help="CPUs of the local Ray cluster")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import ray
    import torch

    from iterdeploy.model import ray_executor
    from iterdeploy.model.loading import load_tokenizer
    from iterdeploy.model.runtime import Runtime
    from iterdeploy.model.sampling import sample
    from iterdeploy.model.sampling_config import SamplingConfig

    cpu = TreeCPU()
    load = os.getloadavg()
    ready_at: list[float] = []
    say = ray_executor._say
    ray_executor._say = lambda msg: (ready_at.append(time.perf_counter()) if " each) on " in msg else None, say(msg))
    runtime = Runtime(threads=args.threads)
    base = dict(k=args.k, temperature=1.0, top_p=1.0, max_new_tokens=args.max_new_tokens,
                batch_size=args.batch_size, seed=args.seed)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or random_model(Path(tmp) / "model")
        prompts = prompts_for(load_tokenizer(folder), args.tasks, [int(s) for s in args.sizes.split(",")], args.seed,
                              args.domains.split(","))

        def timed(name, workers, cfg):
            c0, t0 = cpu.total(), time.perf_counter()
            ready_at.clear()
            df = sample(folder, prompts, cfg, runtime)
            wall, cpus = time.perf_counter() - t0, cpu.total() - c0
            ready = (ready_at[0] - t0) if ready_at else 0.0
            results.append((name, workers, wall, ready, cpus, df))

        timed("local", "-", SamplingConfig(**base))
        c0, t0 = cpu.total(), time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        start_wall, start_cpu = time.perf_counter() - t0, cpu.total() - c0
        for n in (int(w) for w in args.workers.split(",")):
            timed("ray", n, SamplingConfig(**base, executor="ray", ray_workers=n))
        ray.shutdown()
    cpu.close()
    ray_executor._say = say

    local = results[0]
    rows, tokens = len(local[5]), int(local[5]["completion_tokens"].sum())
    print(f"{rows} rows ({len(prompts)} prompts x k={args.k}; {args.domains}, sizes {args.sizes}), "
          f"{tokens:,} generated tokens, max_new_tokens={args.max_new_tokens}, batch {args.batch_size}, "
          f"{args.threads} torch thread(s) per process; torch {torch.__version__}, ray {ray.__version__}; "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print()
    print("| executor | workers | wall s | ready s | decode s | CPU s | rows/s | vs local (wall) | same rows |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    print(f"| ray.init (local cluster, once) | | {start_wall:.1f} | | | {start_cpu:.1f} | | | |")
    for name, workers, wall, ready, cpus, df in results:
        same = "yes" if df.equals(local[5]) else "NO"
        print(f"| {name} | {workers} | {wall:.1f} | {ready:.1f} | {wall - ready:.1f} | {cpus:.1f} | {rows / wall:.0f} | "
              f"{wall / local[2]:.2f}x | {same} |")
    return 0 if all(r[5].equals(local[5]) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
