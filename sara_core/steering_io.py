"""Save and load a steering (SARA and/or ActAdd) as one safetensors file with JSON metadata.

The file holds the tensors needed to re-apply the steering to any prompt on the same model and
layer (SARA: the attract and repel activations; ActAdd: h_plus - h_minus), the SARA scores of the
prompt it was made on (for reference and plots), and the settings (model, layer, k, prompts,
coefficients) as JSON in the safetensors header, so a workshop can share one file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sara_core.actadd import MODES, ActAddSteering
from sara_core.sara import SCOPES, SIGNS, SaraSteering

FORMAT = "sara-steering"
VERSION = 1
MAX_FILE_BYTES = 64 * 1024 * 1024
_META_KEY = "sara_core"


@dataclass
class SavedSteering:
    """A loaded steering file: the steerings it holds and their settings."""

    meta: dict
    sara: SaraSteering | None = None
    actadd: ActAddSteering | None = None
    scores: torch.Tensor | None = field(default=None, repr=False)

    @property
    def layer(self) -> int:
        return int(self.meta["layer"])


def save_steering(
    path: str | Path,
    *,
    sara: SaraSteering | None = None,
    actadd: ActAddSteering | None = None,
    model: str = "",
    attract: str = "",
    repel: str = "",
    prompt: str = "",
    extra: dict | None = None,
) -> Path:
    """Write the given steerings to ``path`` (.safetensors). At least one must be given."""
    from safetensors.torch import save_file

    if sara is None and actadd is None:
        raise ValueError("nothing to save: give a SARA and/or an ActAdd steering")
    layers = {s.layer for s in (sara, actadd) if s is not None}
    if len(layers) != 1:
        raise ValueError(f"SARA and ActAdd must share one layer to be saved together, got {layers}")
    tensors: dict[str, torch.Tensor] = {}
    meta: dict = {
        "format": FORMAT,
        "version": VERSION,
        "model": model,
        "layer": layers.pop(),
        "attract": attract,
        "repel": repel,
        "prompt": prompt,
        **(extra or {}),
    }
    if sara is not None:
        tensors["sara.attract_acts"] = sara.attract_acts.contiguous().cpu()
        tensors["sara.repel_acts"] = sara.repel_acts.contiguous().cpu()
        if sara.last_result is not None:
            tensors["sara.scores"] = sara.last_result.scores.contiguous().cpu()
        meta["sara"] = {"coeff": sara.coeff, "k": sara.k, "sign": sara.sign, "scope": sara.scope}
    if actadd is not None:
        tensors["actadd.diff"] = actadd.diff.contiguous().cpu()
        meta["actadd"] = {"coeff": actadd.coeff, "mode": actadd.mode}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={_META_KEY: json.dumps(meta)})
    return path


def _bad(path: Path, why: str) -> ValueError:
    return ValueError(f"{path.name} is not a valid steering file: {why}")


def _number(path: Path, meta: dict, key: str, lo: float, hi: float) -> float:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(path, f"'{key}' must be a finite number, got {value!r}")
    if not lo <= value <= hi:
        raise _bad(path, f"'{key}'={value} is out of range [{lo}, {hi}]")
    return float(value)


def load_steering(
    path: str | Path, hidden_size: int | None = None, n_layers: int | None = None
) -> SavedSteering:
    """Read a steering file written by ``save_steering``; every defect is a clear ValueError.

    Give ``hidden_size`` and ``n_layers`` of the model it will be applied to, to check it fits.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"steering file not found: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise _bad(path, f"larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 - not a dict
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _bad(path, f"unreadable safetensors ({str(exc).splitlines()[0][:120]})") from None
    try:
        meta = json.loads(header[_META_KEY])
    except (KeyError, TypeError, ValueError):
        raise _bad(path, "it has no sara_core metadata") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _bad(path, f"metadata format is not {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise _bad(
            path, f"unsupported version {meta.get('version')!r} (this build reads {VERSION})"
        )
    layer = meta.get("layer")
    if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
        raise _bad(path, f"'layer' must be a non-negative integer, got {layer!r}")
    if n_layers is not None and layer >= n_layers:
        raise _bad(path, f"it steers block {layer}, but this model has {n_layers} blocks")
    for key, t in tensors.items():
        if t.dim() not in (1, 2) or not t.is_floating_point() or not torch.isfinite(t).all():
            raise _bad(path, f"tensor '{key}' must be finite floats of 1 or 2 dimensions")
        if hidden_size is not None and t.shape[-1] != hidden_size:
            raise _bad(
                path,
                f"tensor '{key}' has hidden size {t.shape[-1]}, the model has "
                f"{hidden_size} (made for {meta.get('model') or 'another model'}?)",
            )
    saved = SavedSteering(meta=meta, scores=tensors.get("sara.scores"))
    if "sara" in meta:
        s = meta["sara"]
        if (
            not isinstance(s, dict)
            or not {"sara.attract_acts", "sara.repel_acts"} <= tensors.keys()
        ):
            raise _bad(path, "SARA settings present but its activations are missing")
        coeff = _number(path, s, "coeff", -100, 100)
        k = s.get("k")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise _bad(path, f"SARA 'k' must be a positive integer or null, got {k!r}")
        if s.get("sign") not in SIGNS or s.get("scope") not in SCOPES:
            raise _bad(path, f"SARA sign/scope must be in {SIGNS}/{SCOPES}")
        try:
            saved.sara = SaraSteering(
                tensors["sara.attract_acts"],
                tensors["sara.repel_acts"],
                layer=layer,
                coeff=coeff,
                k=k,
                sign=s["sign"],
                scope=s["scope"],
            )
        except ValueError as exc:
            raise _bad(path, str(exc)) from None
    if "actadd" in meta:
        a = meta["actadd"]
        if not isinstance(a, dict) or "actadd.diff" not in tensors:
            raise _bad(path, "ActAdd settings present but its difference tensor is missing")
        if a.get("mode") not in MODES:
            raise _bad(path, f"ActAdd mode must be one of {MODES}")
        coeff = _number(path, a, "coeff", -100, 100)
        try:
            saved.actadd = ActAddSteering(
                tensors["actadd.diff"], layer=layer, coeff=coeff, mode=a["mode"]
            )
        except ValueError as exc:
            raise _bad(path, str(exc)) from None
    if saved.sara is None and saved.actadd is None:
        raise _bad(path, "it holds neither a SARA nor an ActAdd steering")
    return saved
