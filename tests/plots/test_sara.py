"""Per-unit data helpers, the heatmap and the similarity figure (sara_core.plots.sara)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from plot_checks import png, texts

from sara_core.plots.sara import (
    grid_shape,
    reduced_similarity,
    sara_heatmap,
    score_scale,
    score_summary,
    similarity_figure,
    top_units,
    units_grid,
)
from sara_core.steering.sara import row_cosine, sara_components


def _result(hidden: int = 64, n=(9, 6, 7), seed: int = 0, zero_units=()):
    g = torch.Generator().manual_seed(seed)
    mats = [torch.randn(t, hidden, generator=g) for t in n]
    for m in mats:
        for u in zero_units:
            m[:, u] = 0.0
    return sara_components(*mats)


@pytest.mark.parametrize(
    ("n", "shape"),
    [
        (576, (24, 24)),
        (640, (20, 32)),
        (896, (28, 32)),
        (64, (8, 8)),
        (2304, (48, 48)),
        (1, (1, 1)),
    ],
)
def test_grid_shape_factorises_common_sizes(n, shape):
    assert grid_shape(n) == shape


@pytest.mark.parametrize("n", [577, 1031, 2 * 401])
def test_grid_shape_pads_awkward_sizes_into_a_near_square(n):
    rows, cols = grid_shape(n)
    assert rows * cols >= n
    assert rows * cols - n < cols  # at most one partly empty row
    assert max(rows, cols) <= 2 * min(rows, cols)


def test_grid_shape_refuses_zero():
    with pytest.raises(ValueError):
        grid_shape(0)


def test_units_grid_places_unit_i_at_row_i_div_cols_and_pads_with_nan():
    values = np.arange(10, dtype=float)
    grid = units_grid(values, (3, 4))
    assert grid.shape == (3, 4)
    for i in range(10):
        assert grid[i // 4, i % 4] == i
    assert np.isnan(grid[2, 2]) and np.isnan(grid[2, 3])
    with pytest.raises(ValueError):
        units_grid(values, (2, 4))


def test_top_units_matches_a_direct_sort():
    res = _result(hidden=128)
    s = res.scores.numpy()
    rows = top_units(res, n=5, coeff=1.5)
    boosted = [r for r in rows if r["effect"] == "boosted"]
    suppressed = [r for r in rows if r["effect"] == "suppressed"]
    assert [r["unit"] for r in boosted] == list(np.argsort(-s)[:5])
    assert [r["unit"] for r in suppressed] == list(np.argsort(s)[:5])
    for r in rows:
        i = r["unit"]
        assert r["score"] == pytest.approx(float(s[i]))
        assert r["cos_attract"] == pytest.approx(float(res.cos_attract[i]))
        assert r["cos_repel"] == pytest.approx(float(res.cos_repel[i]))
        assert r["factor"] == pytest.approx(1 + 1.5 * float(s[i]))
    assert all(r["score"] > 0 for r in boosted) and all(r["score"] < 0 for r in suppressed)


def test_top_units_lists_only_units_that_move_and_no_factor_without_coeff():
    res = _result(hidden=32)
    zeroed = type(res)(
        cos_attract=res.cos_attract,
        cos_repel=res.cos_attract.clone(),
        scores=torch.zeros(32),
        k=res.k,
        n_tokens=res.n_tokens,
        reduced=res.reduced,
    )
    assert top_units(zeroed) == []
    assert "factor" not in top_units(res, n=1)[0]
    with pytest.raises(ValueError):
        top_units(res, n=0)


def test_score_summary_counts_units():
    res = _result(hidden=96)
    s = res.scores
    summary = score_summary(res, coeff=4.0)
    assert summary["units"] == 96 and summary["k"] == res.k
    assert summary["boosted"] == int((s > 0).sum())
    assert summary["suppressed"] == int((s < 0).sum())
    assert summary["flipped"] == int((1 + 4.0 * s < 0).sum())
    assert summary["mean_abs_score"] == pytest.approx(float(s.abs().mean()), rel=1e-6)


def test_reduced_similarity_is_the_mean_of_the_per_unit_cosines():
    res = _result(hidden=80)
    sim = reduced_similarity(res)
    assert sim.shape == (3, 3)
    np.testing.assert_allclose(sim, sim.T, atol=1e-7)
    assert sim[0, 1] == pytest.approx(float(res.cos_attract.mean()), abs=1e-6)
    assert sim[0, 2] == pytest.approx(float(res.cos_repel.mean()), abs=1e-6)
    ra, rr = res.reduced["attract"], res.reduced["repel"]
    assert sim[1, 2] == pytest.approx(float(row_cosine(ra, rr).mean()), abs=1e-6)
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-6)
    assert (np.abs(sim) <= 1 + 1e-9).all()


def test_reduced_similarity_counts_zero_units_as_zero():
    res = _result(hidden=40, zero_units=(0, 1, 2, 3))
    sim = reduced_similarity(res)
    assert sim[0, 0] == pytest.approx(36 / 40, abs=1e-6)
    assert not np.isnan(sim).any()


def test_reduced_similarity_needs_the_reduced_matrices():
    res = _result()
    bare = type(res)(res.cos_attract, res.cos_repel, res.scores, res.k, res.n_tokens)
    with pytest.raises(ValueError, match="reduced"):
        reduced_similarity(bare)


def test_score_scale_is_symmetric_and_bounded():
    assert score_scale(torch.tensor([0.01, -0.02])) == pytest.approx(0.1)
    assert score_scale(torch.tensor([0.78, -0.5])) == pytest.approx(0.8)
    assert score_scale(torch.tensor([1.95, -2.0])) == pytest.approx(2.0)


@pytest.mark.parametrize("hidden", [576, 70])
def test_sara_heatmap_has_three_labelled_grids_a_sorted_strip_and_colour_bars(hidden):
    res = _result(hidden=hidden, n=(12, 8, 10))
    fig = sara_heatmap(res, coeff=1.0, layer=15)
    titles = [ax.get_title() for ax in fig.axes]
    assert "cos(prompt, attract)" in titles and "cos(prompt, repel)" in titles
    assert any(t.startswith("score") for t in titles)
    text = texts(fig)
    assert "block 15" in text and f"k = {res.k}" in text
    assert f"all {hidden} hidden units, sorted by score" in text
    assert "boosted" in text and "suppressed" in text
    every_axes = list(fig.axes) + [c for ax in fig.axes for c in ax.child_axes]
    labels = [ax.get_xlabel() + ax.get_ylabel() for ax in every_axes]
    assert any("cosine" in lab for lab in labels)  # the shared colour bar of the cosines
    assert any("score (scale" in lab for lab in labels)  # the score colour bar
    assert any("factor 1 + 1" in lab for lab in labels)  # right axis of the strip
    images = [im for ax in fig.axes for im in ax.images]
    assert len(images) == 3
    rows, cols = grid_shape(hidden)
    assert all(im.get_array().shape == (rows, cols) for im in images)
    assert images[0].get_clim() == images[1].get_clim() == (-1.0, 1.0)  # shared cosine scale
    assert fig.get_size_inches()[0] >= 14  # wide enough to read on a projector
    png(fig)


def test_similarity_figure_annotates_all_nine_cells():
    res = _result()
    fig = similarity_figure(res)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["prompt", "attract", "repel"]
    assert len(ax.texts) == 9
    sim = reduced_similarity(res)
    assert ax.texts[1].get_text() == f"{sim[0, 1]:+.3f}"
    assert "mean per-unit cosine" in texts(fig)
    png(fig)
