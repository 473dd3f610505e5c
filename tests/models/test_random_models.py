"""``random:NAME`` models: seeded, built in place, the embedded tokenizer, refused early when
they cannot fit (sara_core.models.random_models and its path through load_model)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sara_core.models import loading as models, random_models
from sara_core.models.errors import ModelLoadError
from sara_core.models.loading import load_model
from sara_core.models.random_models import RandomSpec, build_config, build_model
from sara_core.presets.shapes import Shape

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "llama": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 96,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "tie_word_embeddings": True, "vocab_size": 300},
    "gemma2": {"model_type": "gemma2", "hidden_size": 64, "intermediate_size": 96,
               "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
               "head_dim": 16, "sliding_window": 32, "tie_word_embeddings": True,
               "vocab_size": 300},
    "qwen2": {"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 96,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "tie_word_embeddings": False, "vocab_size": 300},
}  # fmt: skip


def tiny_spec(arch: str, name: str = "tiny") -> RandomSpec:
    return RandomSpec(Shape(name, "x/y", "s", TINY[arch]), 300, "note")


def build(arch: str, dtype=torch.float32, name: str = "tiny"):
    spec = tiny_spec(arch, name)
    return build_model(spec, build_config(spec), dtype, torch.device("cpu"))


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("arch", ["llama", "gemma2", "qwen2"])
def test_the_same_name_gives_the_same_model_and_another_name_another(arch):
    a, b, c = state(build(arch)), state(build(arch)), state(build(arch, name="other"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    weights = [k for k in a if a[k].ndim == 2]
    assert all(not torch.equal(a[k], c[k]) for k in weights)
    assert not any(v.is_meta for v in a.values())


def test_the_weights_do_not_depend_on_chunking_threads_or_dtype(monkeypatch):
    reference = state(build("llama"))
    monkeypatch.setattr(random_models, "CHUNK", 1000)  # many chunks, filled by several threads
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    chunked = state(build("llama"))
    # chunk seeds differ from the one-chunk draw, but a fixed CHUNK fixes them: same twice
    assert all(torch.equal(chunked[k], state(build("llama"))[k]) for k in chunked)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert all(torch.equal(chunked[k], state(build("llama"))[k]) for k in chunked)
    monkeypatch.undo()
    half = state(build("llama", torch.bfloat16))
    assert all(torch.equal(half[k], reference[k].to(torch.bfloat16)) for k in reference)


def test_norms_biases_ties_and_scale_follow_the_architecture():
    llama, gemma, qwen = build("llama"), build("gemma2"), build("qwen2")
    assert llama.lm_head.weight is llama.model.embed_tokens.weight
    assert torch.equal(llama.model.norm.weight, torch.ones(64))  # llama: x * w
    assert torch.equal(gemma.model.norm.weight, torch.zeros(64))  # gemma: x * (1 + w)
    assert qwen.lm_head.weight is not qwen.model.embed_tokens.weight  # not tied in its config
    assert torch.equal(qwen.model.layers[0].self_attn.q_proj.bias, torch.zeros(64))
    std = llama.model.layers[0].mlp.up_proj.weight.std().item()
    assert 0.018 < std < 0.022  # the config's initializer_range
    with torch.no_grad():
        out = gemma(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert torch.isfinite(out).all()


def test_an_unknown_name_lists_the_known_ones_before_any_work(monkeypatch):
    monkeypatch.setattr(models, "embedded_tokenizer", lambda: 1 / 0)
    with pytest.raises(ModelLoadError, match="unknown model shape 'gemma-9b'.*random:gemma-2b"):
        load_model("random:gemma-9b")


def test_a_model_that_cannot_fit_is_refused_in_seconds_before_building(monkeypatch):
    built = []
    monkeypatch.setattr(random_models, "build_model", lambda *a, **k: built.append(1))
    start = time.perf_counter()
    with pytest.raises(ModelLoadError) as caught:
        load_model("random:gemma-2-2b", memory_mb=3000)
    assert time.perf_counter() - start < 30
    message = str(caught.value)
    assert message.startswith("random:gemma-2-2b does not fit: it needs 2.14 B parameters")
    assert "even in int8" in message and "3.0 GB of available memory" in message  # auto: int8
    assert "\n" not in message and built == []
    with pytest.raises(ModelLoadError, match="float16 on a CPU"):
        load_model("random:gemma-2-2b", dtype="float16")
    assert built == []


def test_auto_dtype_takes_int8_for_a_model_float32_does_not_fit(monkeypatch):
    seen = []

    class Built(Exception):
        pass

    def stand_in(spec, cfg, dtype, dev, report=None):
        seen.append(dtype)
        raise Built

    monkeypatch.setattr(random_models, "build_model", stand_in)
    # 2.14 B parameters: float32 needs 11.9 GB at its peak, int8 4.3 GB
    for mb, dtype in ((12_000, torch.float32), (11_000, torch.int8)):
        with pytest.raises(Built):
            load_model("random:gemma-2-2b", memory_mb=mb)
        assert seen.pop() == dtype


BUILD_SCRIPT = """
import json, resource, sys
import torch
from sara_core.models.loading import load_model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
lm = load_model("random:smollm2-135m")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"before": before, "peak": peak, "info": lm.describe()}))
"""


@pytest.mark.e2e
def test_building_needs_the_model_once_not_twice_and_info_says_what_it_is():
    """In a fresh process: the peak grows by the weights plus a little, not twice the weights."""
    out = subprocess.run(
        [sys.executable, "-c", BUILD_SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    info = got["info"]
    weights = info["weight_bytes"]
    assert weights == 134_515_008 * 4  # SmolLM2-135M's parameters, float32
    assert got["peak"] - got["before"] < 1.4 * weights + 200e6
    assert info["name"] == "random:smollm2-135m" and info["source"] == "random"
    assert info["architecture"] == "LlamaForCausalLM" and info["layers"] == 30
    assert info["tokenizer_note"].startswith("embedded SmolLM2 tokenizer")
