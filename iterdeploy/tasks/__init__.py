"""Tasks: packaged IPC domains, built-in generators with reference plans, and task sets on disk."""

from iterdeploy.tasks.collection import Collection, from_collection
from iterdeploy.tasks.domains import DOMAINS, domain_path
from iterdeploy.tasks.generators import GENERATORS, GeneratedTask, generate_task, get_generator
from iterdeploy.tasks.records import MANIFEST_COLUMNS, TASK_ID, task_seed
from iterdeploy.tasks.spec import DEFAULT_SPEC, SplitSpec, TaskSetSpec, load_spec
from iterdeploy.tasks.taskset import build_taskset, load_manifest, load_taskset_task

__all__ = [
    "DEFAULT_SPEC", "DOMAINS", "GENERATORS", "MANIFEST_COLUMNS", "TASK_ID", "Collection", "GeneratedTask",
    "SplitSpec", "TaskSetSpec", "build_taskset", "domain_path", "from_collection", "generate_task",
    "get_generator", "load_manifest", "load_spec", "load_taskset_task", "task_seed",
]
