"""The key/value buffer of a batch that decodes: rows join it (their prompt's keys and values,
right-aligned to the batch's columns) and leave it, between decode steps.

Per block, keys and values are (rows, kv_heads, capacity, head_dim). Column ``t`` is where the
next step writes, the same column for every row; a row's real tokens are contiguous and end at
``t - 1``, and ``valid`` marks them (the columns before a short prompt are padding). So the
distance between two columns is the distance between two positions, which is what a sliding
window counts. A row that joins with a prompt longer than the batch's columns shifts the
others right once (a copy, at a join, never per step).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

KV = tuple[torch.Tensor, torch.Tensor]


class KVState:
    """Per-block key/value buffers and valid columns for the rows of one batch."""

    def __init__(self, n_layers: int, kv_heads: int, head_dim: int, dtype: torch.dtype):
        self.keys = [torch.empty(0, kv_heads, 0, head_dim, dtype=dtype) for _ in range(n_layers)]
        self.values = [k.clone() for k in self.keys]
        self.valid = torch.zeros(0, 0, dtype=torch.bool)
        self.length = 0  # columns in use

    @property
    def rows(self) -> int:
        return int(self.valid.shape[0])

    @property
    def capacity(self) -> int:
        return int(self.valid.shape[1])

    def _resize(self, shift: int, capacity: int) -> None:
        """New buffers of ``capacity`` columns, the old columns moved ``shift`` to the right."""
        end = self.length + shift

        def moved(old: torch.Tensor) -> torch.Tensor:
            new = old.new_zeros((*old.shape[:2], capacity, old.shape[3]))
            new[:, :, shift:end] = old[:, :, : self.length]
            return new

        self.keys = [moved(k) for k in self.keys]
        self.values = [moved(v) for v in self.values]
        valid = self.valid.new_zeros((self.rows, capacity))
        valid[:, shift:end] = self.valid[:, : self.length]
        self.valid = valid
        self.length = end

    def reserve(self, columns: int) -> None:
        """Room for ``columns`` more decode steps without reallocating."""
        if self.length + columns > self.capacity:
            self._resize(0, self.length + columns)

    def join(self, kv: Sequence[KV], reserve: int) -> None:
        """Add rows: ``kv`` per block (rows, kv_heads, n, d) of their n prompt tokens."""
        n = int(kv[0][0].shape[2])
        added = int(kv[0][0].shape[0])
        shift = max(0, n - self.length)
        capacity = max(self.capacity + shift, self.length + shift + reserve)
        if shift or capacity > self.capacity:
            self._resize(shift, capacity)
        t = self.length
        for i, (k, v) in enumerate(kv):
            new_k = k.new_zeros((added, k.shape[1], self.capacity, k.shape[3]))
            new_v = new_k.clone()
            new_k[:, :, t - n : t] = k
            new_v[:, :, t - n : t] = v
            self.keys[i] = torch.cat([self.keys[i], new_k])
            self.values[i] = torch.cat([self.values[i], new_v])
        valid = self.valid.new_zeros((added, self.capacity))
        valid[:, t - n : t] = True
        self.valid = torch.cat([self.valid, valid])

    def select(self, index: torch.Tensor) -> None:
        """Keep only the rows ``index`` (finished rows leave the batch)."""
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]
        self.valid = self.valid.index_select(0, index)

    def open_column(self) -> int:
        """The column this step writes (grown if full), marked valid for every row."""
        if self.length >= self.capacity:
            self._resize(0, self.capacity + max(16, self.capacity // 2))
        t = self.length
        self.valid[:, t] = True
        return t

    def close_column(self) -> None:
        self.length += 1
