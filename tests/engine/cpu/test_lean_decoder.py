"""The lean decode loop (sara_core.engine.cpu.lean_decoder): a prompt runs once below the steered
block and the rows fork there, the unsteered answer's first words come before the steered rows'
work, rows join a running batch between steps, and every answer is the one the row gets alone."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tiny_lm

from sara_core.engine.cpu import lean_model as fastpath
from sara_core.engine.cpu.kv_cache import KVState
from sara_core.engine.decoding import decode_rows
from sara_core.engine.row import Row, Sampling
from sara_core.steering.prepare import prepare_actadd, prepare_sara

ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."
PROMPT = "Should they report them to the authorities?"
OTHER = "Hello world! I am happy and hopeful. Love hate good bad yes no report protect."


@pytest.fixture(params=["llama", "gemma2"])
def lm(request):
    return make_tiny_lm(request.param)


def _ids(lm, text: str) -> list[int]:
    return lm.tokenizer(text)["input_ids"]


def _compare_specs(lm, sara_scope: str = "prompt", mode: str = "prefix"):
    """A compare's rows (original, SARA, ActAdd, prompted) at block 2 of 4."""
    sara = prepare_sara(lm, ATTRACT, REPEL, layer=2, coeff=2.0, scope=sara_scope)
    actadd = prepare_actadd(lm, ATTRACT, REPEL, layer=2, coeff=4.0, mode=mode)
    ids = _ids(lm, PROMPT)
    return [(ids, ()), (ids, (sara,)), (ids, (actadd,)), (_ids(lm, OTHER), ())]


def _rows(specs, tokens: int = 8) -> list[Row]:
    return [Row(list(p), s, max_new_tokens=tokens, min_new_tokens=3) for p, s in specs]


def _lone(lm, specs, lean: bool, monkeypatch, tokens: int = 8) -> list[list[int]]:
    monkeypatch.setattr(fastpath, "ENABLED", lean)
    out = []
    for spec in specs:
        rows = _rows([spec], tokens)
        decode_rows(lm, rows)
        out.append(rows[0].tokens)
    monkeypatch.setattr(fastpath, "ENABLED", True)
    return out


def _record_prefills(monkeypatch) -> list[tuple[int, int, int]]:
    """(rows, first block, end block) of every lean prefill call."""
    calls: list[tuple[int, int, int]] = []
    real = fastpath.LeanModel.prefill

    def spy(self, h, lo, hi, kv, edit=None):
        calls.append((h.shape[0], lo, hi))
        return real(self, h, lo, hi, kv, edit)

    monkeypatch.setattr(fastpath.LeanModel, "prefill", spy)
    return calls


@pytest.mark.parametrize(
    ("scope", "mode"), [("prompt", "prefix"), ("every-step", "every-position")]
)
def test_a_compare_runs_its_prompt_once_below_the_steered_block(lm, monkeypatch, scope, mode):
    specs = _compare_specs(lm, scope, mode)
    calls = _record_prefills(monkeypatch)
    rows = _rows(specs)
    decode_rows(lm, rows)
    assert calls == [
        (1, 0, 2),  # the compare's prompt, once, below block 2
        (1, 2, 4),  # the original answer above it
        (2, 2, 4),  # SARA and ActAdd above it, one sequence each
        (1, 0, 4),  # the prompted row: its own prompt, no steering
        (1, 4, 4),
    ]
    lone_lean = _lone(lm, specs, True, monkeypatch)
    lone_model = _lone(lm, specs, False, monkeypatch)
    assert [r.tokens for r in rows] == lone_lean == lone_model


def test_a_classroom_on_one_prompt_shares_it(lm, monkeypatch):
    """Two visitors' compares on the same prompt in one batch: one trunk, and each visitor's
    rows answer as they would alone (the two unsteered rows are one sequence)."""
    first, second = _compare_specs(lm)[:3], _compare_specs(lm)[:3]
    sampled = Row(first[0][0], max_new_tokens=8, sampling=Sampling(0.8, 0.9, seed=3))
    calls = _record_prefills(monkeypatch)
    rows = [*_rows(first + second), sampled]
    decode_rows(lm, rows)
    assert calls == [(1, 0, 2), (1, 2, 4), (4, 2, 4)]
    assert [r.tokens for r in rows[:3]] == [r.tokens for r in rows[3:6]]
    alone = Row(first[0][0], max_new_tokens=8, sampling=Sampling(0.8, 0.9, seed=3))
    decode_rows(lm, [alone])
    assert sampled.tokens == alone.tokens
    assert [r.tokens for r in rows[:3]] == _lone(lm, first, False, monkeypatch)


def test_the_original_answer_shows_before_the_steered_rows_run(lm):
    seen: list[list[int]] = []
    rows = _rows(_compare_specs(lm)[:3])
    decode_rows(lm, rows, lambda rs: seen.append([len(r.tokens) for r in rs]))
    assert seen[:3] == [[1, 0, 0], [1, 1, 1], [2, 2, 2]]


def test_rows_that_join_between_steps_get_their_lone_answers(lm, monkeypatch):
    """A longer prompt (the batch's columns shift) and a shorter steered one join at step 2,
    a third at step 4; the running rows and the joiners all keep their lone answers."""
    specs = _compare_specs(lm)
    first, later = specs[:1], [specs[3], specs[1], specs[2]]
    rows = _rows(first, tokens=10)
    joined: list[Row] = []
    asked: list[int] = []
    steps = [0]

    def join(active: int):
        asked.append(active)
        steps[0] += 1
        new = []
        if steps[0] == 2:
            new = _rows(later[:2], tokens=10)
        elif steps[0] == 4:
            new = _rows(later[2:], tokens=10)
        joined.extend(new)
        return new

    decode_rows(lm, rows, join=join)
    assert asked[:2] == [1, 1] and asked[2] == 3  # the batch grew
    assert [r.tokens for r in rows + joined] == _lone(lm, first + later, False, monkeypatch, 10)
    assert all(r.finish is not None for r in rows + joined)


def test_the_transformers_path_never_asks_for_joiners(lm, monkeypatch):
    monkeypatch.setattr(fastpath, "ENABLED", False)
    asked: list[int] = []
    decode_rows(lm, _rows(_compare_specs(lm)[:1]), join=lambda n: asked.append(n) or [])
    assert asked == []


def test_the_key_value_buffer_aligns_joining_rows_to_the_right():
    state = KVState(n_layers=2, kv_heads=1, head_dim=2, dtype=torch.float32)

    def kv(rows: int, n: int, value: float):
        k = torch.full((rows, 1, n, 2), value)
        return [(k, k + 100), (k + 1, k + 101)]

    state.join(kv(1, 3, 1.0), reserve=1)
    assert state.length == 3 and state.valid.tolist() == [[True, True, True, False]]
    state.join(kv(2, 2, 2.0), reserve=0)  # shorter: padded on the left
    assert state.valid[:, :3].tolist() == [[True] * 3, [False, True, True], [False, True, True]]
    state.join(kv(1, 5, 3.0), reserve=0)  # longer: the others shift right by 2
    assert state.length == 5
    assert state.valid[:, :5].tolist() == [
        [False, False, True, True, True],
        [False, False, False, True, True],
        [False, False, False, True, True],
        [True] * 5,
    ]
    assert state.keys[1][0, 0, 2:5, 0].tolist() == [2.0, 2.0, 2.0]
    assert state.values[0][3, 0, :5, 0].tolist() == [103.0] * 5
    state.select(torch.tensor([1, 3]))
    assert state.rows == 2 and state.keys[0][0, 0, 3:5, 0].tolist() == [2.0, 2.0]
    for _ in range(20):  # the buffer grows past its capacity
        t = state.open_column()
        state.keys[0][:, :, t] = 7.0
        state.close_column()
    assert state.length == 25 and bool(state.valid[:, 5:25].all())
    assert state.keys[0][1, 0, :5, 0].tolist() == [3.0] * 5
