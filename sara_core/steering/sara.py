"""SARA: Similarity-based Activation Steering with Repulsion and Attraction (Tlaie, 2024).

For activation matrices of the prompt (o), an attract prompt (a) and a repel prompt (r) at one
layer, each (n_tokens, hidden), SARA reduces each to R = U_k S_k from a thin SVD of the matrix
transposed to (hidden, n_tokens), takes per hidden unit i the cosines c_a[i] = cos(R_o[i], R_a[i])
and c_r[i] = cos(R_o[i], R_r[i]), and rescales the prompt's activations per unit by
(1 + coeff * (c_a - c_r)) at every token position.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from types import EllipsisType

import torch

from sara_core.steering.interface import Steering
from sara_core.validation import InputError

SIGNS = ("raw", "canonical")
SCOPES = ("prompt", "every-step")


def _as_matrix(x: torch.Tensor, name: str) -> torch.Tensor:
    """Check an activation matrix (n_tokens, hidden) and return it as float32."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (n_tokens, hidden), got {tuple(x.shape)}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return x.detach().to(torch.float32)


@dataclass(frozen=True)
class Factors:
    """Thin SVD of one activation matrix transposed: X^T = U diag(S) V^T, float32."""

    U: torch.Tensor  # (hidden, r)
    S: torch.Tensor  # (r,)
    n_tokens: int

    def to(self, device: torch.device | str) -> Factors:
        return replace(self, U=self.U.to(device), S=self.S.to(device))

    def reduced(self, k: int) -> torch.Tensor:
        """R = U_k S_k, shape (hidden, k).

        A unit that is zero in every token has a row of exact zeros in theory, but the SVD leaves
        rounding noise there; rows below the SVD's own precision are set to zero, so such a unit
        has no direction and gets a cosine of 0 rather than a random one.
        """
        r = self.U[:, :k] * self.S[:k]
        if self.S.numel() == 0:
            return r
        # Zero units measured at most 3.6 * S0 * eps over random trials; real units sit many orders
        # above this (e.g. 5.0 against a tolerance of 0.04 at SmolLM2's block 15).
        tol = self.S[0] * torch.finfo(r.dtype).eps * 16
        return torch.where(r.norm(dim=1, keepdim=True) > tol, r, torch.zeros_like(r))


def svd_factors(x: torch.Tensor, sign: str = "raw") -> Factors:
    """Thin float32 SVD of an activation matrix (n_tokens, hidden), transposed to (hidden, n).

    sign="raw" keeps LAPACK's signs (the author's code); sign="canonical" flips each singular vector
    so the entry of largest magnitude in its column of U is positive (the u-based svd_flip rule),
    which makes the result independent of the solver's sign choices.
    """
    if sign not in SIGNS:
        raise ValueError(f"sign must be one of {SIGNS}, got {sign!r}")
    m = _as_matrix(x, "activations").T  # (hidden, n_tokens)
    U, S, _ = torch.linalg.svd(m, full_matrices=False)
    if sign == "canonical":
        idx = U.abs().argmax(dim=0)
        signs = torch.sign(U[idx, torch.arange(U.shape[1], device=U.device)])
        signs[signs == 0] = 1.0
        U = U * signs
    return Factors(U=U, S=S, n_tokens=int(m.shape[1]))


def row_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of matching rows; a row of zeros has no direction, so its cosine is 0."""
    dot = (a * b).sum(dim=-1)
    norms = a.norm(dim=-1) * b.norm(dim=-1)
    out = torch.where(norms > 0, dot / norms.clamp_min(torch.finfo(a.dtype).tiny), 0.0)
    return out.clamp(-1.0, 1.0)


def resolve_k(k: int | None, *n_tokens: int) -> int:
    """k=None means min(n_o, n_a, n_r); otherwise 1 <= k <= that min, or a clear InputError
    (a ValueError)."""
    limit = min(n_tokens)
    if k is None:
        return limit
    if isinstance(k, bool) or not isinstance(k, int):
        raise InputError(f"k must be an integer or None, got {k!r}")
    if not 1 <= k <= limit:
        raise InputError(
            f"k={k} is out of range: it must be between 1 and {limit}, the token count of the "
            f"shortest of the three prompts (original {n_tokens[0]}, attract {n_tokens[1]}, "
            f"repel {n_tokens[2]})"
        )
    return k


@dataclass(frozen=True)
class SaraResult:
    """What SARA computed for one prompt: per-unit cosines, scores and the rank used."""

    cos_attract: torch.Tensor  # (hidden,)
    cos_repel: torch.Tensor  # (hidden,)
    scores: torch.Tensor  # (hidden,) = cos_attract - cos_repel, in [-2, 2]
    k: int
    n_tokens: tuple[int, int, int]  # (original, attract, repel)
    reduced: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)  # R_o, R_a, R_r

    def to(self, device: torch.device | str) -> SaraResult:
        """A copy on ``device`` (e.g. the CPU, to leave a GPU worker as plain data)."""
        return replace(
            self,
            cos_attract=self.cos_attract.detach().to(device),
            cos_repel=self.cos_repel.detach().to(device),
            scores=self.scores.detach().to(device),
            reduced={k: v.detach().to(device) for k, v in self.reduced.items()},
        )


def sara_from_factors(fo: Factors, fa: Factors, fr: Factors, k: int | None = None) -> SaraResult:
    """SARA's cosines and scores from precomputed SVD factors (lets attract/repel be reused)."""
    k = resolve_k(k, fo.n_tokens, fa.n_tokens, fr.n_tokens)
    if not fo.U.shape[0] == fa.U.shape[0] == fr.U.shape[0]:
        raise ValueError(
            "the three activation matrices must have the same hidden size, got "
            f"{fo.U.shape[0]}, {fa.U.shape[0]}, {fr.U.shape[0]}"
        )
    ro, ra, rr = fo.reduced(k), fa.reduced(k), fr.reduced(k)
    ca, cr = row_cosine(ro, ra), row_cosine(ro, rr)
    return SaraResult(
        cos_attract=ca,
        cos_repel=cr,
        scores=ca - cr,
        k=k,
        n_tokens=(fo.n_tokens, fa.n_tokens, fr.n_tokens),
        reduced={"original": ro, "attract": ra, "repel": rr},
    )


def sara_components(
    original: torch.Tensor,
    attract: torch.Tensor,
    repel: torch.Tensor,
    k: int | None = None,
    sign: str = "raw",
) -> SaraResult:
    """SARA's full result for three activation matrices of shape (n_tokens, hidden)."""
    return sara_from_factors(
        svd_factors(original, sign), svd_factors(attract, sign), svd_factors(repel, sign), k
    )


def sara_scores(
    original: torch.Tensor,
    attract: torch.Tensor,
    repel: torch.Tensor,
    k: int | None = None,
    sign: str = "raw",
) -> torch.Tensor:
    """Per-hidden-unit SARA scores s = cos(R_o, R_a) - cos(R_o, R_r), float32, shape (hidden,)."""
    return sara_components(original, attract, repel, k=k, sign=sign).scores


def apply_scores(hidden: torch.Tensor, scores: torch.Tensor, coeff: float) -> torch.Tensor:
    """Rescale every position of ``hidden`` (..., hidden) per unit by (1 + coeff * scores)."""
    factor = 1.0 + coeff * scores.to(device=hidden.device, dtype=torch.float32)
    return (hidden.to(torch.float32) * factor).to(hidden.dtype)


@dataclass(eq=False)  # compared by identity: tensors have no truth value
class SaraSteering(Steering):
    """SARA steering toward ``attract`` and away from ``repel`` at block ``layer``.

    ``attract_acts`` and ``repel_acts`` are the residual streams (n_tokens, hidden) of the two
    steering prompts entering block ``layer``. Their SVDs are computed once here; the prompt's own
    SVD is computed in :meth:`edit`, on the exact activations being steered (padding excluded).
    scope="prompt" steers the prompt's forward pass only (generated tokens then attend to the
    steered keys and values); scope="every-step" also steers every generated token, as the
    author's code does (during cached decoding that is one token at a time, so k drops to 1).
    """

    attract_acts: torch.Tensor
    repel_acts: torch.Tensor
    layer: int
    coeff: float = 1.0
    k: int | None = None
    sign: str = "raw"
    scope: str = "prompt"
    last_result: SaraResult | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {self.scope!r}")
        if self.sign not in SIGNS:
            raise ValueError(f"sign must be one of {SIGNS}, got {self.sign!r}")
        self.attract_acts = _as_matrix(self.attract_acts, "attract activations")
        self.repel_acts = _as_matrix(self.repel_acts, "repel activations")
        self._fa = svd_factors(self.attract_acts, self.sign)
        self._fr = svd_factors(self.repel_acts, self.sign)

    @property
    def max_k(self) -> int:
        """Largest k the steering prompts allow (the prompt's own length may lower it further)."""
        return min(self._fa.n_tokens, self._fr.n_tokens)

    def analyse(
        self, original_acts: torch.Tensor, k: int | None | EllipsisType = ...
    ) -> SaraResult:
        """SARA's result for the prompt activations (n_tokens, hidden), with this steering's k."""
        use_k = self.k if isinstance(k, EllipsisType) else k
        return sara_from_factors(svd_factors(original_acts, self.sign), self._fa, self._fr, use_k)

    def _steer(self, hidden: torch.Tensor, record: bool) -> torch.Tensor:
        """Steer one sequence (1, n, hidden) as one matrix."""
        fo = svd_factors(hidden[0], self.sign)
        limit = min(fo.n_tokens, self._fa.n_tokens, self._fr.n_tokens)
        # A decode step has one token, so a user k > 1 is capped at what exists.
        k = None if self.k is None else min(self.k, limit)
        result = sara_from_factors(fo, self._fa, self._fr, k)
        if record:
            self.last_result = result
        if self.coeff == 0:  # exact identity, and no needless float32 round trip
            return hidden
        return apply_scores(hidden, result.scores, self.coeff)

    def edit(self, hidden: torch.Tensor, prefill: bool) -> torch.Tensor:
        """Prefill: SARA on the prompt's matrix. Decode (every-step scope only): SARA on each
        generated token alone, as the author's hook does when the cache feeds one token a step."""
        if prefill:
            return self._steer(hidden, record=True)
        if self.scope != "every-step":
            return hidden
        steps = [self._steer(hidden[:, j : j + 1], record=False) for j in range(hidden.shape[1])]
        return torch.cat(steps, dim=1)

    def to(self, device: torch.device | str) -> SaraSteering:
        """A copy on ``device``; the SVDs of attract and repel move along, not recomputed."""
        out = copy.copy(self)
        out.attract_acts = self.attract_acts.to(device)
        out.repel_acts = self.repel_acts.to(device)
        out._fa, out._fr = self._fa.to(device), self._fr.to(device)
        out.last_result = None if self.last_result is None else self.last_result.to(device)
        return out
