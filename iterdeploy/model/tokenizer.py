"""The embedded model's word-level tokenizer, and prompt encoding shared by every model.

The vocabulary is read off the domain files: one token per predicate, action,
constant and domain name, a few structural words of the compact prompt format, and
one pool of object tokens `object1 .. objectN` (the compact format renames every object,
whatever its type, to one of these, so the vocabulary stays small, every name is trained
by every domain, and it covers any task of up to N objects). Built locally with `tokenizers` (WordLevel + whitespace split) and saved
so that `AutoTokenizer.from_pretrained(dir)` loads it with no custom code.
"""

from __future__ import annotations

import json
from pathlib import Path

from iterdeploy.errors import ConfigError
from iterdeploy.planning import read_domain
from iterdeploy.prompts.compact import STRUCTURAL, object_token

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL = (PAD, BOS, EOS, UNK)

def resolve_domain(domain: str | Path) -> Path:
    """A domain.pddl path, or the packaged domain file of a name such as 'blocksworld'."""
    path = Path(domain)
    if path.suffix == ".pddl" or path.is_file():
        if not path.is_file():
            raise ConfigError(f"domain file not found: {path}")
        return path
    try:
        from iterdeploy.tasks.domains import domain_path
    except ImportError:  # the task package is optional for this module; name the way out
        raise ConfigError(f"domain {domain!r}: give a domain.pddl path (packaged domains unavailable)") from None
    return domain_path(str(domain))


def build_vocabulary(domains: list[str | Path], max_objects: int) -> list[str]:
    """Tokens in id order: special tokens first (ids 0-3), structural words, domain words, object tokens."""
    if max_objects < 1:
        raise ConfigError(f"max_objects must be >= 1, got {max_objects}")
    words: set[str] = set()
    for d in domains:
        dom = read_domain(resolve_domain(d))
        words.add(dom.name)
        words.update(dom.predicates)
        words.update(dom.actions)
        words.update(dom.constants)
    objects = [object_token(i) for i in range(1, max_objects + 1)]
    clash = sorted((words | set(STRUCTURAL) | set(SPECIAL)) & set(objects))
    if clash:
        raise ConfigError(f"domain words collide with object tokens: {', '.join(clash)}")
    words -= set(STRUCTURAL) | set(SPECIAL)
    return list(SPECIAL) + list(STRUCTURAL) + sorted(words) + objects


def build_tokenizer(domains: list[str | Path], max_objects: int = 32):
    """A PreTrainedTokenizerFast over `build_vocabulary(domains, max_objects)`, with bos/eos/pad/unk."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(build_vocabulary(domains, max_objects))}
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    # WhitespaceSplit, not Whitespace: PDDL names contain '-' and '_' ('arm-empty', 'pickup_spanner').
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        model_input_names=["input_ids", "attention_mask"], clean_up_tokenization_spaces=False,
    )


def save_tokenizer(tokenizer, out_dir: str | Path) -> None:
    """save_pretrained, naming the portable class so transformers 4.x (e.g. under vLLM) loads it too."""
    tokenizer.save_pretrained(out_dir)
    config_path = Path(out_dir) / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    if config.get("tokenizer_class") == "TokenizersBackend":
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Prompt token ids, with bos in front when the tokenizer has one and the text did not already
    start with it: chat templates write their own bos, so `add_special_tokens=True` would double it."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids = [bos] + ids
    return ids


def stop_token_ids(tokenizer, generation_config=None) -> list[int]:
    """Token ids that end a completion: the model's generation eos ids and the tokenizer's eos."""
    ids: list[int] = []
    eos = getattr(generation_config, "eos_token_id", None)
    for x in ([eos] if isinstance(eos, int) else list(eos or [])) + [tokenizer.eos_token_id]:
        if x is not None and x not in ids:
            ids.append(int(x))
    if not ids:
        raise ConfigError("the tokenizer has no eos token and the model no eos_token_id: sampling could not stop")
    return ids
