"""Tokenizer and model folders: save/load round trips, the NoPE position encoding, loading any local LM."""

from __future__ import annotations

import json
import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from iterdeploy.config import build, to_dict  # noqa: E402
from iterdeploy.errors import ConfigError  # noqa: E402
from iterdeploy.model.embedded import EmbeddedModelConfig, new_embedded_model  # noqa: E402
from iterdeploy.model.loading import load_model  # noqa: E402
from iterdeploy.model.tokenizer import SPECIAL, build_tokenizer, build_vocabulary, encode_prompt, save_tokenizer  # noqa: E402
from iterdeploy.testing.tiny_models import build_tiny_chat_model, build_tiny_embedded_base  # noqa: E402

torch.set_num_threads(1)
DOMAINS = ["blocksworld", "ferry", "miconic", "spanner"]
SMALL = EmbeddedModelConfig(hidden=32, layers=2, heads=2, intermediate=64, max_objects=16)


def test_vocabulary_covers_the_domains_and_stays_small():
    vocab = build_vocabulary(DOMAINS, max_objects=32)
    assert vocab[:4] == list(SPECIAL) and len(vocab) == len(set(vocab))
    for word in ["arm-empty", "on-table", "unstack", "sail", "at-ferry", "lift-at", "depart", "pickup_spanner",
                 "tighten_nut", "object1", "object32", ";", "end"]:
        assert word in vocab
    # one pool of object names for every type: no per-type tokens
    assert "object33" not in vocab and "car1" not in vocab and len(vocab) < 100
    with pytest.raises(ConfigError):
        build_vocabulary(["blocksworld"], max_objects=0)


def test_tokenizer_saves_and_loads_with_auto_tokenizer(tmp_path):
    tok = build_tokenizer(DOMAINS, max_objects=16)
    save_tokenizer(tok, tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = ("blocksworld init clear object3 on object3 object1 arm-empty goal on object1 object3 plan "
            "unstack object3 object1 ; end")
    assert again(text)["input_ids"] == tok(text)["input_ids"]
    assert tok.unk_token_id not in tok(text)["input_ids"]
    assert again.decode(again(text)["input_ids"]) == text
    assert (again.bos_token, again.eos_token, again.pad_token) == ("<s>", "</s>", "<pad>")
    assert encode_prompt(again, "init goal plan")[0] == again.bos_token_id
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"


def test_embedded_model_round_trip_gives_identical_logits(tmp_path):
    tok = build_tokenizer(DOMAINS, SMALL.max_objects)
    model = new_embedded_model(SMALL, tok, seed=3).eval()
    model.save_pretrained(tmp_path, safe_serialization=True)
    save_tokenizer(tok, tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True, use_safetensors=True).eval()
    ids = torch.randint(4, len(tok), (2, 30))
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)
    via_ours, tok2 = load_model(tmp_path)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, via_ours(ids).logits)
    assert tok2.get_vocab() == tok.get_vocab()
    assert set(loaded.generation_config.eos_token_id) == {tok.eos_token_id, tok.get_vocab()["end"]}


def _variant(position_encoding: str):
    return EmbeddedModelConfig(**{**to_dict(SMALL), "position_encoding": position_encoding,
                                  "domains": ("blocksworld",), "rope_max_wavelength": 8.0})


def test_nope_logits_do_not_depend_on_positions_but_rope_logits_do():
    tok = build_tokenizer(["blocksworld"], 8)
    ids = torch.randint(4, len(tok), (2, 40))
    # A uniform shift changes nothing even under RoPE (it encodes relative positions), so the positions
    # are also stretched and given random gaps: NoPE must not notice, RoPE must.
    gaps = torch.randint(1, 50, (1, 40), generator=torch.Generator().manual_seed(0))
    shifted = 5000 + gaps.cumsum(-1)
    nope = new_embedded_model(_variant("nope"), tok, seed=0).eval()
    rope = new_embedded_model(_variant("rope"), tok, seed=0).eval()
    with torch.no_grad():
        assert torch.allclose(nope(ids).logits, nope(ids, position_ids=shifted).logits, atol=1e-6, rtol=0)
        assert (rope(ids).logits - rope(ids, position_ids=shifted).logits).abs().max() > 1e-4
    assert nope.config.rope_parameters["rope_type"] == "llama3"  # not 'linear': vLLM sizes caches by that factor


def test_p_rope_keeps_only_short_wavelengths():
    tok = build_tokenizer(["blocksworld"], 8)
    model = new_embedded_model(_variant("p-rope"), tok)
    wavelengths = 2 * torch.pi / model.model.rotary_emb.inv_freq
    assert wavelengths[0] < 8 and (wavelengths[wavelengths > 8] > 1e20).all()
    # Reloaded as a stock Llama, the same frequencies come back.
    from transformers import LlamaForCausalLM

    again = LlamaForCausalLM(model.config)
    assert torch.equal(again.model.rotary_emb.inv_freq, model.model.rotary_emb.inv_freq)


def test_embedded_config_checks_its_fields():
    assert build(EmbeddedModelConfig, {"hidden": 64, "domains": ["ferry"]}).domains == ("ferry",)
    with pytest.raises(ConfigError, match="hiden: unknown key"):
        build(EmbeddedModelConfig, {"hiden": 64})
    with pytest.raises(ConfigError, match="hidden: 30 is not divisible by heads=4"):
        build(EmbeddedModelConfig, {"hidden": 30, "heads": 4})
    with pytest.raises(ConfigError, match="position_encoding: 'alibi' is not one of nope|p-rope|rope"):
        build(EmbeddedModelConfig, {"position_encoding": "alibi"})
    with pytest.raises(ConfigError, match="hidden: must be <= 8192"):
        build(EmbeddedModelConfig, {"hidden": 10**9})


def test_tiny_embedded_base_is_a_loadable_compact_model(tmp_path):
    from iterdeploy.prompts import get_format

    folder = build_tiny_embedded_base(tmp_path / "base")
    model, tok = load_model(folder)
    fmt = get_format("compact", tok)
    assert fmt.max_objects == 16 and sum(p.numel() for p in model.parameters()) < 20_000


def test_any_local_chat_model_folder_loads(tmp_path):
    folder = build_tiny_chat_model(tmp_path / "chat")
    model, tok = load_model(folder)
    assert tok.chat_template and tok.bos_token_id is None and tok.eos_token == "<|im_end|>"
    prompt = tok.apply_chat_template([{"role": "user", "content": "(define (problem p))"}], tokenize=False,
                                     add_generation_prompt=True)
    ids = encode_prompt(tok, prompt)
    assert ids == tok(prompt, add_special_tokens=False)["input_ids"]  # no bos to add, none added
    with torch.no_grad():
        assert model(torch.tensor([ids])).logits.shape[-1] == len(tok)
    with pytest.raises(ConfigError, match="not found"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a model folder"):
        load_model(tmp_path / "empty")


def test_broken_model_folders_are_one_line_errors(tmp_path):
    """A corrupt, pickled or incomplete folder never reaches a library traceback."""
    import shutil

    good = build_tiny_embedded_base(tmp_path / "good")
    cases = {}
    cases["corrupt weights"] = tmp_path / "corrupt"
    shutil.copytree(good, cases["corrupt weights"])
    (cases["corrupt weights"] / "model.safetensors").write_bytes(b"\x00" * 64)
    cases["pickled weights"] = tmp_path / "pickled"
    shutil.copytree(good, cases["pickled weights"])
    (cases["pickled weights"] / "pytorch_model.bin").write_bytes(b"not even a pickle")
    cases["no tokenizer"] = tmp_path / "notok"
    shutil.copytree(good, cases["no tokenizer"])
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (cases["no tokenizer"] / f).unlink()
    cases["junk config"] = tmp_path / "junkconfig"
    shutil.copytree(good, cases["junk config"])
    (cases["junk config"] / "config.json").write_text("{not json")
    cases["adapter without weights"] = tmp_path / "adapter"
    cases["adapter without weights"].mkdir()
    (cases["adapter without weights"] / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(good)}))
    messages = {"corrupt weights": "cannot load the model", "pickled weights": "pickled weights",
                "no tokenizer": "no tokenizer here", "junk config": "cannot load the model",
                "adapter without weights": "adapter folder without adapter_model.safetensors"}
    for name, folder in cases.items():
        with pytest.raises(ConfigError) as exc:
            load_model(folder)
        text = str(exc.value)
        assert messages[name] in text and str(folder) in text and "\n" not in text, (name, text)
