"""The small-batch product (sara_core.engine.cpu.kernels): F.linear's result for 2 to 12 rows on
narrow and wide inputs, odd and even outputs, with a bias; other shapes are left to torch; and the
lean step takes it for a compare's rows."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sara_core.engine.cpu import kernels, lean_model as fastpath


@pytest.mark.parametrize("rows", [2, 3, 4, 5, 12])
@pytest.mark.parametrize(("out", "inp"), [(37, 64), (96, 2048), (33, 2050)])
def test_the_kernel_gives_f_linear(rows, out, inp):
    torch.manual_seed(rows)
    x, w, b = torch.randn(rows, 1, inp), torch.randn(out, inp), torch.randn(out)
    assert kernels.applies(rows, w)
    got = kernels.linear(x, w, b)
    assert got.shape == (rows, 1, out)
    torch.testing.assert_close(got, F.linear(x, w, b), atol=2e-4, rtol=1e-5)


def test_other_shapes_are_left_to_torch(monkeypatch):
    w = torch.randn(8, 16)
    assert not kernels.applies(1, w) and not kernels.applies(13, w)
    assert not kernels.applies(3, w.t()) and not kernels.applies(3, w.double())
    monkeypatch.setattr(kernels, "ENABLED", False)
    assert not kernels.applies(3, w)


def test_a_compare_step_goes_through_the_kernel(tiny_lm, monkeypatch):
    from sara_core.engine.decoding import decode_rows
    from sara_core.engine.row import Row

    calls: list[int] = []
    real = kernels.linear
    monkeypatch.setattr(kernels, "linear", lambda x, *a: calls.append(x.shape[0]) or real(x, *a))
    ids = tiny_lm.tokenizer("Should they report them?")["input_ids"]
    rows = [Row(ids, max_new_tokens=4, min_new_tokens=4) for _ in range(3)]
    rows[1].input_ids = ids[:-1]  # two prompts: the rows decode as a batch of 3
    decode_rows(tiny_lm, rows)
    assert fastpath.lean_model(tiny_lm.model) is not None
    assert 3 in calls  # q, k, v, o, gate, up, down and the output layer of each step
    with_kernel = [r.tokens for r in rows]
    monkeypatch.setattr(kernels, "ENABLED", False)
    again = [Row(r.input_ids, max_new_tokens=4, min_new_tokens=4) for r in rows]
    decode_rows(tiny_lm, again)
    assert [r.tokens for r in again] == with_kernel
