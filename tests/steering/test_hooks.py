"""Block discovery and hooks on tiny random models of every supported architecture."""

from __future__ import annotations

import pytest
import torch
from conftest import ARCHS, make_tiny_lm
from torch import nn

from sara_core.models.blocks import UnsupportedModelError, check_layer, get_blocks
from sara_core.steering.hooks import edit_residual, residual_at

IDS = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 11]])


def _logits(model, ids=IDS):
    with torch.no_grad():
        return model(input_ids=ids).logits


def _n_hooks(model) -> int:
    """Our hooks are forward pre-hooks; transformers may keep forward hooks of its own."""
    return sum(len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(params=ARCHS)
def lm(request):
    return make_tiny_lm(request.param)


def test_blocks_found_on_every_architecture(lm):
    blocks = get_blocks(lm.model)
    assert len(blocks) == 4 == lm.n_layers
    assert "Layer" in type(blocks[0]).__name__ or "Block" in type(blocks[0]).__name__


def test_residual_at_is_hidden_states_of_that_layer(lm):
    with torch.no_grad():
        hs = lm.model(input_ids=IDS, output_hidden_states=True).hidden_states
    for layer in range(lm.n_layers):
        torch.testing.assert_close(residual_at(lm.model, IDS, layer), hs[layer])
    assert _n_hooks(lm.model) == 0


def test_edit_changes_output_and_removal_restores_bit_for_bit(lm):
    before = _logits(lm.model)
    state = {k: v.clone() for k, v in lm.model.state_dict().items()}
    with edit_residual(lm.model, 2, lambda h: h * 3.0):
        steered = _logits(lm.model)
    assert not torch.allclose(steered, before)
    assert torch.equal(_logits(lm.model), before)
    assert _n_hooks(lm.model) == 0
    assert all(torch.equal(v, state[k]) for k, v in lm.model.state_dict().items())


def test_identity_edit_is_bit_identical(lm):
    before = _logits(lm.model)
    with edit_residual(lm.model, 1, lambda h: h):
        assert torch.equal(_logits(lm.model), before)


def test_hook_removed_on_exception(lm):
    before = _logits(lm.model)
    with pytest.raises(RuntimeError, match="boom"), edit_residual(lm.model, 0, lambda h: h + 1):
        raise RuntimeError("boom")
    assert _n_hooks(lm.model) == 0
    assert torch.equal(_logits(lm.model), before)


def test_edit_targets_the_named_block():
    """Editing block L leaves hidden_states[0..L-1] alone and changes hidden_states[L] onward."""
    lm = make_tiny_lm("llama")
    with torch.no_grad():
        base = lm.model(input_ids=IDS, output_hidden_states=True).hidden_states
        with edit_residual(lm.model, 2, lambda h: h + 1.0):
            hs = lm.model(input_ids=IDS, output_hidden_states=True).hidden_states
    for i in range(2):
        assert torch.equal(hs[i], base[i])
    # hidden_states[2] is recorded before block 2 runs, so the edit shows from block 2's output on
    assert not torch.allclose(hs[3], base[3])


def test_check_layer_bounds():
    lm = make_tiny_lm("llama")
    assert check_layer(lm.model, -1) == 3
    for bad in (4, -5):
        with pytest.raises(ValueError, match="out of range"):
            check_layer(lm.model, bad)
    with pytest.raises(ValueError, match="whole number"):
        check_layer(lm.model, 1.5)


def test_unsupported_model_names_its_class():
    class Weird(nn.Module):
        def __init__(self):
            super().__init__()
            self.stuff = nn.Linear(2, 2)

    with pytest.raises(UnsupportedModelError, match="Weird"):
        get_blocks(Weird())
