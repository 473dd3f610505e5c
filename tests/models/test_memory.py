"""The memory estimate, the dtype policy and the device checks (sara_core.models.memory)."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_config

from sara_core.models import memory
from sara_core.models.memory import DeviceError, DoesNotFitError

CPU = torch.device("cpu")
GEMMA2_2B_AT_49152 = 2_137_764_096


def gemma2_2b_by_hand(vocab: int) -> int:
    """Gemma-2-2B's parameters from its card's numbers, summed by hand (tied embedding)."""
    h, heads, kv, hd, inter, layers = 2304, 8, 4, 256, 9216, 26
    attention = h * heads * hd + 2 * h * kv * hd + heads * hd * h
    mlp = 3 * h * inter
    norms = 4 * h
    return vocab * h + layers * (attention + mlp + norms) + h


def test_parameter_count_matches_a_hand_count_and_a_built_model():
    from transformers import AutoModelForCausalLM

    from sara_core.models.random_models import build_config, resolve

    config = build_config(resolve("random:gemma-2-2b", 49_152))
    assert memory.parameter_count(config) == gemma2_2b_by_hand(49_152) == GEMMA2_2B_AT_49152
    for arch in ("llama", "qwen2", "gemma2", "gpt2"):
        cfg = tiny_config(arch, 300)
        built = AutoModelForCausalLM.from_config(cfg)
        unique = {id(p): p.numel() for p in built.parameters()}
        assert memory.parameter_count(cfg) == sum(unique.values()), arch


def test_the_estimate_is_the_documented_bound():
    est = memory.estimate(2_000_000_000, torch.bfloat16)
    assert est.weight_bytes == 4_000_000_000
    assert est.peak_bytes == int(4e9 * memory.PEAK_SCALE + memory.PEAK_EXTRA_BYTES)
    assert "2.00 B parameters" in est.describe() and "bfloat16" in est.describe()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", None),
        ("", None),
        (None, None),
        ("float32", torch.float32),
        ("BF16", torch.bfloat16),
        ("fp16", torch.float16),
        (torch.bfloat16, torch.bfloat16),
    ],
)
def test_dtype_names(text, expected):
    assert memory.parse_dtype(text) == expected


def test_an_unknown_dtype_names_the_choices():
    with pytest.raises(DeviceError, match="unknown dtype 'int3'; use one of auto, float32"):
        memory.parse_dtype("int3")


def test_devices_this_machine_lacks_are_refused_with_the_reason(monkeypatch):
    assert memory.parse_device("cpu") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert memory.parse_device(None) == CPU and memory.parse_device("auto") == CPU
    with pytest.raises(DeviceError, match="no CUDA GPU is visible here.*use --device cpu"):
        memory.parse_device("cuda")
    with pytest.raises(DeviceError, match="unknown device 'gpu0'"):
        memory.parse_device("gpu0")
    with pytest.raises(DeviceError, match="unsupported device 'meta'"):
        memory.parse_device("meta")


def test_a_dtype_the_device_cannot_run_is_refused_with_a_reason(monkeypatch):
    memory.check_dtype(torch.bfloat16, CPU)
    memory.check_dtype(torch.float32, CPU)
    with pytest.raises(DeviceError, match="float16 on a CPU.*bfloat16"):
        memory.check_dtype(torch.float16, CPU)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla T4")
    with pytest.raises(DeviceError, match=r"\(Tesla T4\) has no bfloat16.*float16"):
        memory.check_dtype(torch.bfloat16, torch.device("cuda"))


def test_the_policy_float32_on_a_cpu_while_it_fits_then_bfloat16(monkeypatch):
    params = 1_000_000_000
    fp32 = memory.estimate(params, torch.float32).peak_bytes
    bf16 = memory.estimate(params, torch.bfloat16).peak_bytes
    assert memory.choose_dtype(CPU, params, fp32, None) == torch.float32
    assert memory.choose_dtype(CPU, params, fp32 - 1, None) == torch.bfloat16
    assert memory.choose_dtype(CPU, params, bf16 - 1, None) == torch.bfloat16  # then refused
    assert memory.choose_dtype(CPU, params, 10**15, torch.bfloat16) == torch.bfloat16
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert memory.choose_dtype(cuda, params, 10**15, None) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert memory.choose_dtype(cuda, params, 10**15, None) == torch.float16


def test_a_model_that_cannot_fit_is_refused_in_one_line():
    need = memory.estimate(2_000_000_000, torch.bfloat16)
    memory.check_fits("m", need, need.peak_bytes, CPU)
    with pytest.raises(DoesNotFitError) as caught:
        memory.check_fits("random:x", need, need.peak_bytes - 1, CPU)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("random:x does not fit: it needs 2.00 B parameters")
    assert "even in bfloat16" in message and "SARA_MEMORY_MB" in message
    fp32 = memory.estimate(2_000_000_000, torch.float32)
    with pytest.raises(DoesNotFitError, match="--dtype int8 would store the blocks' weights"):
        memory.check_fits("m", fp32, 1, CPU)


def test_available_memory_takes_the_override():
    assert memory.available_bytes(CPU, 1500) == 1_500_000_000
    assert memory.available_bytes(CPU) > 0


def test_int8_is_named_everywhere_a_dtype_is_and_runs_on_a_cpu_only():
    assert "int8" in memory.DTYPE_CHOICES
    assert memory.parse_dtype("int8") == memory.parse_dtype(" INT8 ") == torch.int8
    memory.check_dtype(torch.int8, CPU)
    for device in ("cuda", "mps"):
        with pytest.raises(DeviceError) as caught:
            memory.check_dtype(torch.int8, torch.device(device))
        assert str(caught.value) == (
            f"int8 is not built for {device} yet (CPU only); use bfloat16, float16 or float32 there"
        )


def test_the_policy_picks_int8_on_a_cpu_where_float32_does_not_fit():
    params, linear = 1_500_000_000, 1_300_000_000
    fp32 = memory.estimate(params, torch.float32, linear).peak_bytes
    int8 = memory.estimate(params, torch.int8, linear)
    assert int8.weight_bytes == linear + (params - linear) * 4
    assert memory.choose_dtype(CPU, params, fp32, None, linear) == torch.float32
    assert memory.choose_dtype(CPU, params, fp32 - 1, None, linear) == torch.int8
    assert memory.choose_dtype(CPU, params, fp32 - 1, None, 0) == torch.bfloat16  # nothing to store
    with pytest.raises(DoesNotFitError, match="even in int8"):
        memory.check_fits("m", int8, 1, CPU)


def test_int8_counts_the_blocks_linear_weights_the_embedding_and_an_untied_head():
    from transformers import AutoModelForCausalLM

    for arch in ("llama", "gemma2"):
        config = tiny_config(arch, 320)
        model = AutoModelForCausalLM.from_config(config)
        params, linear = memory.parameter_counts(config)
        projections = sum(m.weight.numel() for n, m in model.named_modules() if n.endswith("_proj"))
        head, embed = model.lm_head.weight, model.get_input_embeddings().weight
        untied = head is not embed
        assert linear == projections + embed.numel() + (head.numel() if untied else 0), arch
        assert params == memory.parameter_count(config)
