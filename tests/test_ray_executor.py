"""Sampling and evaluation on Ray (`executor: ray`): on a local 2-CPU Ray cluster the stages write the local
executor's bytes; a worker killed mid-shard is restarted and its batch decoded again, same bytes; the
execution knobs are not DVC params; bad settings are one line, exit 2.

The cluster tests start Ray once per module (2 CPUs, a small object store, no dashboard, worker logs
not sent to the driver) and run `iterdeploy stage` in process and as a child joining by address.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"

from iterdeploy.cli import main  # noqa: E402
from iterdeploy.errors import ConfigError  # noqa: E402
from iterdeploy.model import ray_executor  # noqa: E402
from iterdeploy.model.sampling_config import EXECUTION_FIELDS, SamplingConfig  # noqa: E402
from iterdeploy.pipeline.context import make_context  # noqa: E402
from iterdeploy.pipeline.registry import find_stage, run_stage  # noqa: E402
from iterdeploy.testing.tiny_models import build_tiny_embedded_base  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def tiny_params() -> dict:
    """Five deploy tasks x K 3 in batches of 4 (4 batches, so 2 workers share them and a prompt's samples
    straddle batches as they do locally); one torch thread per worker, as locally."""
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["tasks"]["splits"] = [
        {"name": "deploy", "domain": "blocksworld", "sizes": [2, 3], "per_size": 2},
        {"name": "deploy", "domain": "ferry", "sizes": [2], "per_size": 1},
        {"name": "test", "domain": "blocksworld", "sizes": [2, 3], "per_size": 2},
        {"name": "test", "domain": "ferry", "sizes": [1], "per_size": 2},
    ]
    p["model"].update(path="models/base", sha256=None)
    p["sampling"].update(k=3, max_new_tokens=24, batch_size=4)
    p["evaluation"].update(k=2, max_new_tokens=24, batch_size=4)
    p["generations"] = 1
    p["runtime"]["threads"] = 1
    return p


FAKE_VLLM = {
    "vllm/__init__.py": """
        import random
        from types import SimpleNamespace
        from transformers import AutoTokenizer

        class SamplingParams(SimpleNamespace):
            pass

        class LLM:
            '''Stands in for vLLM: each request's tokens follow from its seed and its prompt ids only.'''
            def __init__(self, model, tokenizer, **kw):
                self.tok = AutoTokenizer.from_pretrained(tokenizer)

            def get_tokenizer(self):
                return self.tok

            def generate(self, requests, params, lora_request=None, use_tqdm=False):
                outs = []
                for r, p in zip(requests, params):
                    rng = random.Random(hash((p.seed, tuple(r["prompt_token_ids"]))))
                    ids = [rng.randrange(len(self.tok)) for _ in range(rng.randint(1, p.max_tokens))]
                    done = SimpleNamespace(text=self.tok.decode(ids), token_ids=ids,
                                           finish_reason="length" if len(ids) == p.max_tokens else "stop")
                    outs.append(SimpleNamespace(outputs=[done]))
                return outs
    """,
    "vllm/inputs.py": "TokensPrompt = dict\n",
    "vllm/lora/__init__.py": "",
    "vllm/lora/request.py": "class LoRARequest:\n    def __init__(self, *a):\n        self.args = a\n",
}


@pytest.fixture(scope="module")
def fake_vllm(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fake_vllm")
    for name, text in FAKE_VLLM.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


@pytest.fixture(scope="module")
def cluster(fake_vllm):
    """A local Ray cluster of 2 CPUs for this module; its workers can import the fake vllm."""
    ray = pytest.importorskip("ray", reason="the ray extra (scripts/setup.sh installs it)")
    ray.init(num_cpus=2, object_store_memory=80 << 20, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(fake_vllm)}})
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The task set and generation 0 (a reference to a tiny random base), made locally."""
    root = tmp_path_factory.mktemp("project")
    build_tiny_embedded_base(root / "models" / "base", domains=("blocksworld", "ferry"))
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    ctx = make_context(root)
    run_stage(ctx, "taskset", 0)
    run_stage(ctx, "checkpoint", 0)
    return root


def _stage(root: Path, artifact: str, gen: int, *flags: str) -> None:
    assert main(["stage", artifact, "--gen", str(gen), "--root", str(root), *flags]) == 0


def _made_by(root: Path, artifact: str, gen: int, *flags: str) -> dict[str, bytes]:
    """The bytes of every output of one stage run with these flags (then removed, so that each run writes anew)."""
    _stage(root, artifact, gen, *flags)
    stage = find_stage(make_context(root).params, artifact, gen)
    out = {}
    for path in stage.outs + stage.metrics:
        out[path] = (root / path).read_bytes()
        (root / path).unlink()
    return out


@pytest.mark.slow
def test_ray_stages_write_the_local_executors_bytes(project, cluster, capfd):
    local = _made_by(project, "samples", 1)
    on_ray = _made_by(project, "samples", 1, "--sampling.executor", "ray", "--sampling.ray_workers", "2")
    err = capfd.readouterr().err
    assert "ray: 2 workers (1 CPU each) on 1 node(s), 4 batches" in err  # it did run on Ray, on both workers
    assert on_ray == local
    # evaluation: a greedy pass and a sampled pass, both on Ray; every output file the same bytes
    local = _made_by(project, "evaluation", 0)
    on_ray = _made_by(project, "evaluation", 0, "--evaluation.executor", "ray")
    assert capfd.readouterr().err.count("ray: 2 workers") == 2
    assert set(on_ray) == {"runs/gen_000/evaluation.parquet", "runs/gen_000/details.json",
                           "runs/gen_000/metrics.json"}
    assert on_ray == local


@pytest.mark.slow
def test_a_worker_killed_mid_shard_is_retried_and_the_file_is_the_same(project, cluster, tmp_path):
    """A child `iterdeploy stage` joins the cluster by address; the first worker to start its second batch
    kills its own process (SIGKILL); Ray restarts it and decodes that batch again."""
    local = _made_by(project, "samples", 1)
    marker = tmp_path / "killed"
    env = dict(os.environ, **{ray_executor.KILL_ENV: str(marker)})
    proc = subprocess.run(
        [sys.executable, "-m", "iterdeploy", "stage", "samples", "--gen", "1", "--root", str(project),
         "--sampling.executor", "ray", "--sampling.ray_address", cluster, "--sampling.ray_workers", "2"],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert marker.is_file() and int(marker.read_text()) > 0  # a worker really died, after finishing a batch
    assert "ray: restarted workers (their batches were decoded again): worker" in proc.stderr
    assert (project / "runs/gen_001/samples.parquet").read_bytes() == local["runs/gen_001/samples.parquet"]


@pytest.mark.slow
def test_vllm_backend_on_ray_shards_whole_prompts_in_order(project, cluster, fake_vllm, monkeypatch):
    """With the vLLM backend (a stand-in vllm whose rows follow from each request's seed and prompt), the
    Ray executor gives the local backend's rows: whole prompts per engine, concatenated in prompt order."""
    from iterdeploy.model.sampling import sample
    from iterdeploy.prompts.examples import prompts_for

    from iterdeploy.model import vllm_backend

    monkeypatch.syspath_prepend(str(fake_vllm))
    monkeypatch.chdir(project)  # model folders are named relative to the project root, as stages run
    # the stand-in vllm runs on the CPU: lift the CUDA-device rule (tests/test_paper_setting.py tests it), which
    # would also make Ray ask for GPUs this machine has not got
    monkeypatch.setattr(vllm_backend, "check_device", lambda runtime: None)
    ctx = make_context(project)
    prompts = prompts_for(ctx.prompt_format, ctx.tasks, ctx.tasks.split("deploy"))
    cfg = SamplingConfig(k=3, max_new_tokens=8, backend="vllm")
    local = sample(ctx.model_dir(0), prompts, cfg, ctx.params.runtime)
    on_ray = sample(ctx.model_dir(0), prompts, SamplingConfig(k=3, max_new_tokens=8, backend="vllm", executor="ray",
                                                             ray_workers=2), ctx.params.runtime)
    assert len(local) == 15 and local["completion"].nunique() > 10
    assert on_ray.equals(local)


def test_execution_fields_are_not_dvc_params(project):
    """Switching executor changes no stage's DVC params (dvc.lock stays valid; nothing re-runs)."""
    params = make_context(project).params
    for artifact, section, gen in (("samples", "sampling", 1), ("evaluation", "evaluation", 0)):
        declared = find_stage(params, artifact, gen).params
        assert f"{section}.k" in declared and f"{section}.seed" in declared and section not in declared
        for name in EXECUTION_FIELDS:
            assert f"{section}.{name}" not in declared
    dvc_yaml = (REPO / "dvc.yaml").read_text()
    assert "sampling.temperature" in dvc_yaml and "executor" not in dvc_yaml and "ray_" not in dvc_yaml


def test_without_ray_the_executor_is_one_line_exit_2(project, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigError, match="executor 'ray' needs the ray package"):
        ray_executor.import_ray()
    code = main(["stage", "samples", "--gen", "1", "--root", str(project), "--sampling.executor", "ray"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err
    assert errors[0].startswith("iterdeploy stage: error: executor 'ray' needs the ray package")


def test_bad_executor_settings_are_one_line(project, capsys):
    assert main(["stage", "samples", "--gen", "1", "--root", str(project), "--sampling.executor", "spark"]) == 2
    assert "sampling.executor: 'spark' is not one of local|ray" in capsys.readouterr().err
    assert main(["stage", "evaluation", "--gen", "0", "--root", str(project), "--evaluation.ray_workers", "0"]) == 2
    assert "evaluation.ray_workers: must be >= 1, got 0" in capsys.readouterr().err


def test_worker_count_fits_the_cluster():
    cpu = {"num_cpus": 2}
    assert ray_executor.worker_count({"CPU": 8.0}, cpu, None, 100) == 4  # as many as fit
    assert ray_executor.worker_count({"CPU": 8.0}, cpu, None, 3) == 3  # no more than work items
    assert ray_executor.worker_count({"CPU": 8.0}, cpu, 2, 100) == 2
    with pytest.raises(ConfigError, match=r"ray_workers: 5 workers of 2 CPUs each do not fit the cluster \(8 CPUs, "
                                          r"0 GPUs\); at most 4"):
        ray_executor.worker_count({"CPU": 8.0}, cpu, 5, 100)
    gpu = {"num_cpus": 1, "num_gpus": 1}
    assert ray_executor.worker_count({"CPU": 32.0, "GPU": 4.0}, gpu, None, 100) == 4  # one per GPU
    with pytest.raises(ConfigError, match="cannot hold one worker"):
        ray_executor.worker_count({"CPU": 32.0}, gpu, None, 100)


def test_a_cluster_that_cannot_be_joined_is_one_line():
    class FakeRay:
        @staticmethod
        def is_initialized():
            return False

        @staticmethod
        def init(address=None, **kw):
            raise ConnectionError("Could not find any running Ray instance.\nPlease specify the one to connect to.")

    with pytest.raises(ConfigError, match=r"^ray_address: cannot join the Ray cluster at 'head:6379': Could not find "
                                          r"any running Ray instance\.$"):
        ray_executor.connect(FakeRay, "head:6379")


def test_the_dagster_resource_chooses_the_executor(project):
    """The checked-in cluster run config is valid for the `loop` job, and its resource settings reach both
    sampling sections as params overrides."""
    import dagster as dg

    from dagster_project.definitions import build_definitions
    from dagster_project.defs.resources import IterdeployResource

    run_config = yaml.safe_load((REPO / "configs" / "dagster-ray.yaml").read_text())
    job = build_definitions(project).resolve_job_def("loop")
    assert dg.validate_run_config(job, run_config)
    settings = dict(run_config["resources"]["iterdeploy"]["config"], project_dir=str(project), device="cpu")
    params = IterdeployResource(**settings).params()
    for section in (params.sampling, params.evaluation):
        assert (section.executor, section.ray_address, section.ray_workers) == \
            ("ray", "ray://iterdeploy-head-svc:10001", 8)
    default = IterdeployResource(project_dir=str(project)).params()
    assert default.sampling.executor == default.evaluation.executor == "local"
    with pytest.raises(ConfigError, match="sampling.executor: 'spark' is not one of local|ray"):
        IterdeployResource(project_dir=str(project), executor="spark").params()


def test_nothing_but_the_ray_executor_imports_ray():
    code = ("import sys; import iterdeploy.cli, iterdeploy.pipeline.stages, iterdeploy.model.sampling, "
            "dagster_project.definitions; assert 'ray' not in sys.modules, 'ray was imported'; "
            "import iterdeploy.model.ray_executor; assert 'ray' not in sys.modules, 'ray imported eagerly'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imports = [str(p.relative_to(REPO)) for p in (REPO / "iterdeploy").rglob("*.py")
               if "import ray" in p.read_text() or "from ray" in p.read_text()]
    assert imports == ["iterdeploy/model/ray_executor.py"]
