"""The Steering protocol: SARA and ActAdd implement it, and a user's own steering can too."""

from __future__ import annotations

import torch

from sara_core.engine.decoding import decode_rows
from sara_core.engine.row import Row
from sara_core.steering.actadd import ActAddSteering
from sara_core.steering.interface import Steering
from sara_core.steering.sara import SaraSteering


def test_sara_and_actadd_are_steerings():
    sara = SaraSteering(torch.randn(5, 8), torch.randn(6, 8), layer=1)
    actadd = ActAddSteering(torch.randn(4, 8), layer=1)
    assert isinstance(sara, Steering) and isinstance(actadd, Steering)


def test_to_moves_tensors_without_recomputing_the_svds(monkeypatch):
    from sara_core.steering import sara as sara_module

    sara = SaraSteering(torch.randn(5, 8), torch.randn(6, 8), layer=1, coeff=2.0, k=3)
    monkeypatch.setattr(sara_module, "svd_factors", lambda *a, **k: 1 / 0)
    copy = sara.to("cpu")
    assert copy is not sara and (copy.layer, copy.coeff, copy.k) == (1, 2.0, 3)
    torch.testing.assert_close(copy._fa.S, sara._fa.S)
    actadd = ActAddSteering(torch.randn(4, 8), layer=2, coeff=5.0).to("cpu")
    assert (actadd.layer, actadd.coeff) == (2, 5.0)


class Doubler(Steering):
    """A user's steering: doubles the stream at one block during the prefill."""

    def __init__(self, layer: int):
        self.layer = layer
        self.seen: list[tuple[int, bool]] = []

    def edit(self, hidden: torch.Tensor, prefill: bool) -> torch.Tensor:
        self.seen.append((hidden.shape[1], prefill))
        return hidden * 2 if prefill else hidden

    def to(self, device):
        return self


def test_a_user_steering_plugs_into_the_decode_loop_and_sees_no_padding(tiny_lm):
    short = tiny_lm.tokenizer("Hello world!")["input_ids"]
    long = tiny_lm.tokenizer("Should they report them to the authorities?")["input_ids"]
    mine = Doubler(layer=1)
    rows = [Row(long, max_new_tokens=3), Row(short, (mine,), max_new_tokens=3)]
    decode_rows(tiny_lm, rows)
    assert mine.seen[0] == (len(short), True)
    assert all(seen == (1, False) for seen in mine.seen[1:])
    plain = Row(short, max_new_tokens=3)
    decode_rows(tiny_lm, [plain])
    with torch.no_grad(), mine.hook(tiny_lm.model):
        hooked = tiny_lm.model(torch.tensor([short])).logits
    unhooked = tiny_lm.model(torch.tensor([short])).logits
    assert not torch.equal(hooked, unhooked)
