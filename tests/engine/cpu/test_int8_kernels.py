"""int8 products (sara_core.engine.cpu.int8_kernels): quantization per output row, and the product
of the dequantized weight for decode rows (1 to 12) and prefill rows (more, through tiles)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sara_core.engine.cpu import int8_kernels as K


def test_quantize_is_symmetric_absmax_per_row():
    w = torch.tensor([[1.27, -0.635, 0.0], [-2.54, 1.0, 0.5]])
    q = K.quantize(w)
    torch.testing.assert_close(q.scale, torch.tensor([0.01, 0.02]))
    assert q.q.dtype == torch.int8
    assert q.q.tolist() == [[127, -64, 0], [-127, 50, 25]]  # -63.5 rounds to even: -64


def test_dequantized_weights_are_within_half_a_step():
    torch.manual_seed(0)
    w = torch.randn(64, 300) * torch.rand(64, 1) * 3
    q = K.quantize(w)
    err = (K.dequantize(q) - w).abs()
    assert (err <= q.scale[:, None] / 2 + 1e-6).all()
    assert (q.q.abs().amax(dim=1) == 127).all()


def test_a_zero_row_quantizes_to_zero():
    q = K.quantize(torch.zeros(3, 8))
    assert (q.q == 0).all() and torch.isfinite(q.scale).all()


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 12, 13, 40])
@pytest.mark.parametrize(("out", "inp"), [(37, 64), (96, 2048), (33, 2050)])
def test_the_product_gives_f_linear_of_the_dequantized_weight(rows, out, inp):
    torch.manual_seed(rows)
    x, w, b = torch.randn(rows, 1, inp), torch.randn(out, inp), torch.randn(out)
    q = K.quantize(w)
    got = K.linear(x, q, b)
    assert got.shape == (rows, 1, out)
    torch.testing.assert_close(got, F.linear(x, K.dequantize(q), b), atol=3e-4, rtol=1e-5)


def test_prefill_tiles_cover_every_output_row(monkeypatch):
    monkeypatch.setattr(K, "TILE_FLOATS", 64 * 10)  # 64-row tiles over 150 rows: 3 tiles
    torch.manual_seed(1)
    x, w = torch.randn(20, 10), torch.randn(150, 10)
    q = K.quantize(w)
    torch.testing.assert_close(K.linear(x, q), F.linear(x, K.dequantize(q)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("rows", [1, 3, 40])
def test_the_thread_pool_gives_the_calling_threads_result(rows, monkeypatch):
    torch.manual_seed(2)
    x, q = torch.randn(rows, 96), K.quantize(torch.randn(130, 96))
    alone = K.linear(x, q)
    monkeypatch.setattr(K, "PARALLEL_MIN", 0)  # every product on the pool
    torch.testing.assert_close(K.linear(x, q), alone, atol=1e-5, rtol=1e-6)
