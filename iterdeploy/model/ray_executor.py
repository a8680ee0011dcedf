"""Sampling on Ray (`executor: ray`): the local executor's batches, decoded by Ray workers.

Each worker is a Ray actor that holds one model replica (transformers on a CPU or a GPU, or a vLLM
engine on a GPU). How the rows stay the local executor's bytes:

- transformers: the driver makes the local executor's schedule (`decoding.schedule`: rows sorted by
  prompt length, the K rows of a prompt consecutive, cut into `batch_size` batches) and the row seeds;
  each batch is a work item, run as it is by whichever worker is free (Ray's ActorPool), and the
  driver puts the rows back in the local order (`decoding.assemble`). A row depends on the rows that
  share its batch in the last bits of the floats (padding widths), so batches are never regrouped:
  the unit of sharding is the local batch, which keeps a prompt's K samples together and sharing
  their prefill exactly as locally. Workers run `runtime.threads` torch threads, as the local stage does.
- vllm: contiguous groups of prompts (every sample of a prompt on one engine), concatenated in
  prompt order; each row is its own request with its own seed, as in the local vLLM backend. Whether
  vLLM's output depends on its own batching is vLLM's matter: compare on the GPUs you run.

Faults: a worker that dies (killed, out of memory, its node lost) is restarted by Ray
(`max_restarts`) and the batches it held are resubmitted (`max_task_retries`); a batch is a pure
function of its rows, so a retried one gives the same tokens. An error raised inside a worker (a
missing model folder on its node, a bad model) is not retried and comes back as its one line.

Workers must see the model folder at the same path (one machine, or a shared filesystem) and run the
same package versions: both are checked (content hash, torch/transformers versions) before decoding.
`ray` is imported only here, and only when the executor is used (it is the optional `ray` extra).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import platform
import signal
import socket
import sys
from pathlib import Path

from tqdm.auto import tqdm

from iterdeploy.artifacts import tree_hash
from iterdeploy.errors import ConfigError, IterdeployError
from iterdeploy.model import decoding
from iterdeploy.model.loading import adapter_base, is_adapter, load_tokenizer, tokenizer_folder
from iterdeploy.model.runtime import Runtime
from iterdeploy.model.sampling_config import SamplingConfig
from iterdeploy.model.tokenizer import encode_prompt

RETRIES = 3
"""Restarts of a dead worker, and resubmissions of each batch it held."""
KILL_ENV = "ITERDEPLOY_RAY_TEST_KILL"
"""Fault injection for tests: a path; the first worker to start its second batch creates that file and
kills its own process (SIGKILL), as a worker lost mid-shard. Forwarded to the workers when set here."""
VLLM_CHUNKS_PER_WORKER = 4
"""vLLM work items per worker (groups of whole prompts): small enough to balance, large enough to batch."""


def _say(msg: str) -> None:
    print(f"ray: {msg}", file=sys.stderr, flush=True)


def import_ray():
    try:
        import ray
        from ray.util import ActorPool  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"executor 'ray' needs the ray package ({exc}); install the ray extra "
                          "(`pip install -c constraints.txt -e '.[ray]'`, which scripts/setup.sh does) or use "
                          "executor: local") from None
    return ray


def connect(ray, address: str | None) -> None:
    """Join the cluster at `address`, or start a local one (null); a process already connected stays so."""
    if ray.is_initialized():
        return
    kw: dict = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address is None:
        kw["include_dashboard"] = False
    try:
        ray.init(address=address, **kw)
    except Exception as exc:  # ConnectionError, ValueError, RuntimeError, depending on the address
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        where = f"cannot join the Ray cluster at {address!r}" if address else "cannot start a local Ray cluster"
        raise ConfigError(f"ray_address: {where}: {first}") from None


def versions() -> dict[str, str]:
    """What a worker must share with the driver for its rows to be the driver's bytes."""
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}


def _uses_gpu(runtime: Runtime) -> bool:
    import torch

    return torch.device(runtime.device).type == "cuda"  # no availability check: the driver may have no GPU


def worker_resources(runtime: Runtime) -> dict[str, float]:
    """Ray resources of one worker: a GPU (and a CPU) on CUDA, else `runtime.threads` CPUs."""
    return {"num_cpus": 1, "num_gpus": 1} if _uses_gpu(runtime) else {"num_cpus": runtime.threads}


def _label(need: dict[str, float]) -> str:
    """{'num_cpus': 2, 'num_gpus': 1} -> '2 CPUs + 1 GPU'."""
    names = {"num_cpus": "CPU", "num_gpus": "GPU"}
    return " + ".join(f"{v:g} {names[k]}{'' if v == 1 else 's'}" for k, v in need.items())


def worker_count(cluster: dict, need: dict[str, float], wanted: int | None, items: int) -> int:
    """Workers to start: `wanted` (or as many as `cluster`'s resources hold), at most one per work item."""
    cpus, gpus = float(cluster.get("CPU", 0)), float(cluster.get("GPU", 0))
    fit = int(cpus // need["num_cpus"])
    if need.get("num_gpus"):
        fit = min(fit, int(gpus // need["num_gpus"]))
    what = _label(need)
    if fit < 1:
        raise ConfigError(f"ray: the cluster ({cpus:g} CPUs, {gpus:g} GPUs) cannot hold one worker ({what} each; "
                          "lower runtime.threads or add nodes)")
    if wanted is not None and wanted > fit:
        raise ConfigError(f"ray_workers: {wanted} workers of {what} each do not fit the cluster ({cpus:g} CPUs, "
                          f"{gpus:g} GPUs); at most {fit}")
    return max(1, min(wanted or fit, items))


def _test_kill(batches_done: int) -> None:
    path = os.environ.get(KILL_ENV)
    if not path or batches_done < 1:
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


class _Replica:
    """One worker: a model replica, loaded on first use (again after a restart)."""

    def __init__(self, slot: int, model_dir: str, cwd: str, expected: dict[str, str], runtime: Runtime,
                 cfg: SamplingConfig):
        self.slot, self.model_dir, self.cwd, self.expected = slot, model_dir, cwd, expected
        self.runtime, self.cfg = runtime, cfg
        self.engine = None
        self.done = 0

    def _load(self) -> None:
        if self.engine is not None:
            return
        if os.path.isdir(self.cwd):
            os.chdir(self.cwd)  # model folders may name others relatively (an adapter's base)
        for folder, digest in self.expected.items():
            if not Path(folder).is_dir():
                raise IterdeployError(f"model folder not found on Ray node {socket.gethostname()}: workers need the "
                                      "driver's files at the same path (one machine or a shared filesystem)", folder)
            if tree_hash(folder) != digest:
                raise IterdeployError(f"on Ray node {socket.gethostname()} this model folder is not the driver's "
                                      "(content hash differs)", folder)
        if self.cfg.backend == "vllm":
            from iterdeploy.model.vllm_backend import VllmEngine

            self.engine = VllmEngine(self.model_dir, self.cfg, self.runtime)
        else:
            from iterdeploy.model.loading import load_model

            model, tokenizer = load_model(self.model_dir, self.runtime)
            self.engine = decoding.Decoder(model, tokenizer)

    def ready(self) -> dict:
        self._load()
        return {"pid": os.getpid(), "node": socket.gethostname(), "versions": versions()}

    def decode(self, index: int, batch: list[tuple[int, int]], seeds: list[int], prompt_ids: dict[int, list[int]]):
        """One batch of the local schedule (`prompt_ids`: the token ids of its prompts, by prompt index):
        (index, slot, pid, [(token ids, finish reason)] per row)."""
        self._load()
        _test_kill(self.done)
        outs = self.engine.decode(prompt_ids, batch, seeds, self.cfg)
        self.done += 1
        return index, self.slot, os.getpid(), outs

    def generate(self, index: int, prompts: list[tuple[str, str]]):
        """vLLM: every sample of a group of prompts: (index, slot, pid, rows)."""
        self._load()
        _test_kill(self.done)
        rows = self.engine.generate(prompts, self.cfg)
        self.done += 1
        return index, self.slot, os.getpid(), rows


def _expected_folders(model_dir: Path) -> dict[str, str]:
    folders = [model_dir] + ([adapter_base(model_dir).resolve()] if is_adapter(model_dir) else [])
    return {str(f): tree_hash(f) for f in folders}


def _unwrap(ray, exc: Exception) -> Exception:
    """The one-line error a failure inside Ray stands for."""
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = getattr(exc, "cause", None)
        if isinstance(cause, IterdeployError):
            return cause
        text = str(cause if cause is not None else exc).strip().splitlines()
        return IterdeployError(f"a Ray worker failed: {(text[-1] if text else type(exc).__name__)[:200]}")
    if isinstance(exc, ray.exceptions.RayActorError):
        return IterdeployError(f"a Ray worker died and stayed dead after {RETRIES} restarts (out of memory? a lost "
                               "node?); its logs are under /tmp/ray/session_latest/logs on that node")
    return exc


def generate_on_ray(model_dir: str | Path, prompts: list[tuple[str, str]], cfg: SamplingConfig,
                    runtime: Runtime = Runtime(), progress: bool = False) -> list[dict]:
    """The rows `decoding.generate` (or the vLLM backend) would give, decoded by Ray workers."""
    ray = import_ray()
    from ray.util import ActorPool

    connect(ray, cfg.ray_address)
    model_dir = Path(model_dir).resolve()
    expected = _expected_folders(model_dir)
    # Ray sets each GPU worker's CUDA_VISIBLE_DEVICES to its own GPU, which is then its `cuda`.
    worker_runtime = dataclasses.replace(runtime, device="cuda") if _uses_gpu(runtime) else runtime
    if cfg.backend == "vllm":
        from iterdeploy.model.vllm_backend import _check_servable

        _check_servable(adapter_base(model_dir) if is_adapter(model_dir) else model_dir)
    else:
        tokenizer = load_tokenizer(tokenizer_folder(model_dir))
        prompt_ids = [encode_prompt(tokenizer, p) for _, p in prompts]
        batches = decoding.schedule(prompt_ids, cfg.k, cfg.batch_size)
        items = [(i, b, decoding.batch_seeds(prompts, b, cfg.seed), {p: prompt_ids[p] for p, _ in b})
                 for i, b in enumerate(batches)]
    need = worker_resources(worker_runtime)
    n_items = len(items) if cfg.backend != "vllm" else len(prompts)
    if n_items == 0:
        return []
    workers = worker_count(ray.cluster_resources(), need, cfg.ray_workers, n_items)
    if cfg.backend == "vllm":
        from iterdeploy.model import vllm_backend  # optional, like the backend itself

        vllm_backend.check_device(runtime)  # here, once: a Ray worker's runtime names its own GPU
        chunk = max(1, math.ceil(len(prompts) / (workers * VLLM_CHUNKS_PER_WORKER)))
        items = [(i, prompts[j:j + chunk]) for i, j in enumerate(range(0, len(prompts), chunk))]
    options: dict = dict(need, max_restarts=RETRIES, max_task_retries=RETRIES)
    if os.environ.get(KILL_ENV):
        options["runtime_env"] = {"env_vars": {KILL_ENV: os.environ[KILL_ENV]}}
    Replica = ray.remote(_Replica).options(**options)
    actors = [Replica.remote(slot, str(model_dir), os.getcwd(), expected, worker_runtime, cfg)
              for slot in range(workers)]
    try:
        try:
            info = ray.get([a.ready.remote() for a in actors])
        except Exception as exc:
            raise _unwrap(ray, exc) from None
        mine = versions()
        for i in info:
            if i["versions"] != mine:
                raise IterdeployError(f"Ray worker on {i['node']} runs {i['versions']}, this process {mine}: install "
                                      "the same versions there (constraints.txt), or its rows would differ")
        pids = {slot: {i["pid"]} for slot, i in enumerate(info)}
        _say(f"{workers} worker{'' if workers == 1 else 's'} ({_label(need)} each) on {len({i['node'] for i in info})} node(s), {len(items)} "
             f"{'groups of prompts' if cfg.backend == 'vllm' else 'batches'}")
        pool = ActorPool(actors)
        call = (lambda a, it: a.generate.remote(*it)) if cfg.backend == "vllm" else \
            (lambda a, it: a.decode.remote(*it))
        done: dict[int, list] = {}
        total = len(prompts) * cfg.k
        with tqdm(total=total, unit="sample", desc="sampling (ray)", disable=not progress) as bar:
            try:
                for index, slot, pid, out in pool.map_unordered(call, items):
                    done[index] = out
                    pids[slot].add(pid)
                    bar.update(len(out))
            except Exception as exc:
                raise _unwrap(ray, exc) from None
        restarted = {slot: len(p) - 1 for slot, p in pids.items() if len(p) > 1}
        if restarted:
            _say("restarted workers (their batches were decoded again): "
                 + ", ".join(f"worker {s} x{n}" for s, n in sorted(restarted.items())))
    finally:
        for a in actors:
            ray.kill(a, no_restart=True)
    if cfg.backend == "vllm":
        return [row for index in sorted(done) for row in done[index]]
    results = {job: out for index, batch, *_ in items for job, out in zip(batch, done[index])}
    return decoding.assemble(tokenizer, prompts, prompt_ids, results)
