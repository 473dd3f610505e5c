"""The decode loop over :mod:`sara_core.engine.cpu.lean_model`: prompts shared below the steered
block, rows that join a running batch, and the first words of an unsteered row before the steered
ones.

Rows are admitted in groups that share one prompt (token for token). A group runs its prompt
once through the blocks below its lowest steered block (the trunk), then forks: the rows
without a steering run the blocks above as one sequence and pick their first token at once
(the original answer of a compare shows its first words after one prompt's work); then every
distinct steering set (rows that share steering objects compute the same thing) runs the
blocks above, each steering editing its own sequence exactly as the hooks of
:class:`sara_core.steering.hooks.SteeringHooks` would (prefill, then every decode step). A compare's
three rows so cost one prompt below the steered block instead of three, and a classroom's
compares on one prompt share it too. The rows' keys and values then join the batch's
:class:`sara_core.engine.cpu.kv_cache.KVState`, and decode steps run for every row together; rows
leave as they finish and new ones may join between any two steps (``join``).

Answers are those of the unshared computation: the blocks below the fork compute, per row,
what they would compute for that row alone (tests/engine/cpu/test_lean_decoder.py checks them token
for token against transformers' forward, lone and batched).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from sara_core.engine.cpu import kernels
from sara_core.engine.cpu.kv_cache import KVState
from sara_core.engine.cpu.lean_model import LeanModel
from sara_core.engine.row import OnStep, Row, next_tokens, seeded_generators
from sara_core.engine.threads import decode_threads
from sara_core.models.blocks import check_layer
from sara_core.models.loading import LoadedModel
from sara_core.steering.interface import Steering

Join = Callable[[int], Sequence[Row]]
"""``join(rows_now)``: rows to add to the running batch (called between decode steps)."""

Steers = list[tuple[int, Steering]]  # a row's steerings with their blocks as positive indices


def _apply(layer: int, h: torch.Tensor, per_row: Sequence[Steers], prefill: bool) -> torch.Tensor:
    """Each row's steerings at ``layer`` on its own sequence, as the hooks do."""
    out: torch.Tensor | None = None
    for r, steers in enumerate(per_row):
        for at, steering in steers:
            if at != layer:
                continue
            if out is None:
                out = h.clone()
            out[r : r + 1] = steering.edit(out[r : r + 1], prefill)
    return h if out is None else out


class LeanDecoder:
    """One batch decoding through a :class:`LeanModel`; call :meth:`run` with the rows."""

    def __init__(
        self,
        lm: LoadedModel,
        lean: LeanModel,
        eos: set[int],
        on_step: OnStep | None,
        join: Join | None,
    ):
        self.lm, self.lean, self.eos = lm, lean, eos
        self.on_step, self.join = on_step, join
        self.rows: list[Row] = []
        self.generators: list[torch.Generator | None] = []
        self.active: list[int] = []  # indices into self.rows of the rows in the batch
        self.next_ids: list[int] = []
        self.positions: list[int] = []
        self.steers: list[Steers] = []
        self.layers: frozenset[int] = frozenset()
        dtype = lean.dtype
        self.state = KVState(lean.n_layers, lean.n_kv, lean.head_dim, dtype)
        self.default_threads = torch.get_num_threads()

    # -- admitting rows ---------------------------------------------------------------------

    def _steers(self, row: Row) -> Steers:
        return [(check_layer(self.lm.model, s.layer), s) for s in row.steerings]

    def admit(self, rows: Sequence[Row]) -> None:
        """Prefill ``rows`` (grouped by prompt) and add those that go on to the batch."""
        first = len(self.rows)
        self.rows.extend(rows)
        self.generators.extend(seeded_generators(rows, self.lm.device))
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, row in enumerate(rows, start=first):
            if not row.input_ids:
                raise ValueError("every row needs at least one prompt token")
            groups.setdefault(tuple(row.input_ids), []).append(i)
        self._threads(None)
        for prompt, members in groups.items():
            self._admit_group(list(prompt), members)

    def _admit_group(self, prompt: list[int], members: list[int]) -> None:
        lean = self.lean
        steers = {i: self._steers(self.rows[i]) for i in members}
        fork = min((at for s in steers.values() for at, _ in s), default=lean.n_layers)
        trunk: list[tuple[torch.Tensor, torch.Tensor]] = []
        h = lean.prefill(lean.embed_ids(torch.tensor(prompt))[None], 0, fork, trunk)
        # rows whose steerings are the same objects compute the same sequence
        sets: dict[tuple[int, ...], list[int]] = {}
        for i in members:
            sets.setdefault(tuple(id(s) for _, s in steers[i]), []).append(i)
        plain = [key for key in sets if not key]
        steered = [key for key in sets if key]
        for stage in (plain, steered):  # the unsteered rows' first words come first
            if not stage:
                continue
            per_seq = [steers[sets[key][0]] for key in stage]
            upper: list[tuple[torch.Tensor, torch.Tensor]] = []

            def edit(layer: int, x: torch.Tensor, per_seq: list[Steers] = per_seq) -> torch.Tensor:
                return _apply(layer, x, per_seq, prefill=True)

            hs = h.expand(len(stage), -1, -1)
            hs = lean.prefill(hs, fork, lean.n_layers, upper, edit if stage is steered else None)
            logits = lean.logits(hs[:, -1])
            pairs = [(i, p) for p, key in enumerate(stage) for i in sets[key]]
            seq = torch.tensor([p for _, p in pairs])
            keep, ids = next_tokens(
                self.rows, [i for i, _ in pairs], logits[seq], self.eos, self.generators
            )
            if keep:
                index = seq[keep]
                n = len(keep)
                kv = [(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in trunk]
                kv += [(k.index_select(0, index), v.index_select(0, index)) for k, v in upper]
                reserve = max(self.rows[pairs[j][0]].max_new_tokens for j in keep) + 1
                self.state.join(kv, reserve)
                for j, token in zip(keep, ids, strict=True):
                    i = pairs[j][0]
                    self.active.append(i)
                    self.next_ids.append(token)
                    self.positions.append(len(prompt))
                    self.steers.append(steers[i])
                self.layers = frozenset(at for s in self.steers for at, _ in s)
            if self.on_step is not None:
                self.on_step(self.rows)

    # -- decoding ---------------------------------------------------------------------------

    def _threads(self, rows: int | None) -> None:
        want = self.default_threads
        if rows is not None:
            want = decode_threads(self.lm, rows) or self.default_threads
        if torch.get_num_threads() != want:
            torch.set_num_threads(want)

    def _edit(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        return _apply(layer, h, self.steers, prefill=False)

    def _step(self) -> None:
        self._threads(len(self.active))
        logits = self.lean.step(
            self.state,
            torch.tensor(self.next_ids),
            torch.tensor(self.positions),
            self._edit if self.layers else None,
            self.layers,
        )
        keep, self.next_ids = next_tokens(self.rows, self.active, logits, self.eos, self.generators)
        if self.on_step is not None:
            self.on_step(self.rows)
        if len(keep) < len(self.active):
            self.state.select(torch.tensor(keep, dtype=torch.long))
            self.active = [self.active[j] for j in keep]
            self.steers = [self.steers[j] for j in keep]
            self.layers = frozenset(at for s in self.steers for at, _ in s)
            self.positions = [self.positions[j] for j in keep]
        self.positions = [p + 1 for p in self.positions]

    def run(self, rows: Sequence[Row]) -> None:
        """Generate every row (and every row that joins) to its end."""
        try:
            self.admit(rows)
            while self.active:  # an emptied batch ends: the next one forms as usual
                self._step()
                if self.join is not None and self.active:
                    new = self.join(len(self.active))
                    if new:
                        self.admit(new)
        finally:
            self._threads(None)


def decode_lean(
    lm: LoadedModel,
    lean: LeanModel,
    rows: Sequence[Row],
    eos: set[int],
    on_step: OnStep | None = None,
    join: Join | None = None,
) -> None:
    """Decode ``rows`` (and those ``join`` adds) through ``lean``; see the module docstring."""
    if len(rows) > 1 or join is not None:
        kernels.warm_up()
    with lm.lock, torch.no_grad():
        LeanDecoder(lm, lean, eos, on_step, join).run(rows)
