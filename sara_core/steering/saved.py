"""Save and load a steering (SARA and/or ActAdd) as one safetensors file with JSON metadata.

The file holds the tensors needed to re-apply the steering to any prompt on the same model and
layer (SARA: the attract and repel activations; ActAdd: h_plus - h_minus), the SARA scores of the
prompt it was made on (for reference and plots), and the settings (model, layer, k, prompts,
coefficients) as JSON in the safetensors header, so a workshop can share one file.

Files come from strangers (the public app accepts uploads), so :func:`load_steering` checks
everything before it builds anything: the file and header sizes, every metadata field's type and
length, the tensor names, dtypes and shapes (read from the header, before any tensor is loaded)
and that the tensors agree with each other and with the model. Every defect is a ``ValueError``
naming the file, with values quoted through :func:`~sara_core.validation.short_repr`.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from sara_core.steering.actadd import MODES, ActAddSteering
from sara_core.steering.sara import SCOPES, SIGNS, SaraSteering
from sara_core.validation import MAX_COEFF, MAX_K, MAX_PROMPT_TOKENS, MAX_TEXT_CHARS, short_repr

if TYPE_CHECKING:  # safetensors is imported where it is used, as before
    from safetensors import safe_open

FORMAT = "sara-steering"
VERSION = 1
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest steering file accepted."""
MAX_HEADER_BYTES = 1024 * 1024
"""Largest safetensors header (tensor table and metadata JSON); three texts of
``MAX_TEXT_CHARS`` escaped twice over need about a third of it."""
MAX_ROWS = MAX_PROMPT_TOKENS + 8
"""Most rows (token positions) of an activation or difference tensor: the longest prompt plus
room for a chat template's tokens."""
MAX_HIDDEN = 65_536
"""Largest hidden size accepted (today's largest models use 16,384 to 25,600)."""
MAX_MODEL_CHARS = 300
"""Longest model name (a Hub id or a local path) in the metadata."""
MAX_LAYER = 10_000
"""Largest block index in the metadata, when the model's depth is not given."""
MAX_EXTRA_KEYS = 16
"""Most extra metadata fields (``save_steering(extra=...)``); their values must be scalars."""

_META_KEY = "sara_core"
_SARA_TENSORS = ("sara.attract_acts", "sara.repel_acts")
_KNOWN_TENSORS = (*_SARA_TENSORS, "sara.scores", "actadd.diff")
_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
_BASE_KEYS = ("format", "version", "model", "layer", "attract", "repel", "prompt")
_TEXT_LIMITS = {
    "model": MAX_MODEL_CHARS,
    "attract": MAX_TEXT_CHARS,
    "repel": MAX_TEXT_CHARS,
    "prompt": MAX_TEXT_CHARS,
}
_SARA_KEYS = ("coeff", "k", "sign", "scope")
_ACTADD_KEYS = ("coeff", "mode")


@dataclass
class SavedSteering:
    """A loaded steering file: the steerings it holds and their settings."""

    meta: dict[str, Any]
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
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the given steerings to ``path`` (.safetensors). At least one must be given.

    The metadata is checked as :func:`load_steering` will check it, so no file is written that
    could not be read back.
    """
    from safetensors.torch import save_file

    if sara is None and actadd is None:
        raise ValueError("nothing to save: give a SARA and/or an ActAdd steering")
    layers = {s.layer for s in (sara, actadd) if s is not None}
    if len(layers) != 1:
        raise ValueError(f"SARA and ActAdd must share one layer to be saved together, got {layers}")
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {
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
    _check_meta(path, meta, n_layers=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={_META_KEY: json.dumps(meta)})
    return path


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
    _check_sizes(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
            meta = _parse_meta(path, header)
            _check_meta(path, meta, n_layers)
            shapes = {key: _shape(path, fh, key) for key in fh.keys()}  # noqa: SIM118 - not a dict
            _check_tensors(path, meta, shapes, hidden_size)
            tensors = {key: fh.get_tensor(key) for key in shapes}
    except (SafetensorError, OSError, RuntimeError) as exc:
        detail = short_repr(" ".join(str(exc).split()))
        raise _bad(path, f"unreadable safetensors ({detail})") from None
    for key, t in tensors.items():
        if not torch.isfinite(t).all():
            raise _bad(path, f"tensor '{key}' must be finite floats (it holds NaN or infinity)")
    return _build(path, meta, tensors)


# --------------------------------------------------------------------------------------------
# Checks, in the order load_steering runs them


def _bad(path: Path, why: str) -> ValueError:
    return ValueError(f"{path.name} is not a valid steering file: {why}")


def _check_sizes(path: Path) -> None:
    """The file and its header (an 8-byte length, then JSON) are within bounds."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise _bad(path, f"larger than {MAX_FILE_BYTES // 2**20} MiB ({size} bytes)")
    with path.open("rb") as fh:
        prefix = fh.read(8)
    if len(prefix) < 8:
        raise _bad(path, f"unreadable safetensors (only {size} bytes)")
    (header_bytes,) = struct.unpack("<Q", prefix)
    if header_bytes > MAX_HEADER_BYTES:
        raise _bad(
            path, f"its header claims {header_bytes} bytes, at most {MAX_HEADER_BYTES} are read"
        )
    if 8 + header_bytes > size:
        raise _bad(path, f"unreadable safetensors (a header of {header_bytes} bytes, truncated)")


def _parse_meta(path: Path, header: Mapping[str, str]) -> dict[str, Any]:
    """The sara_core metadata: a JSON object, parsed within the header's bounds."""
    if _META_KEY not in header:
        raise _bad(path, "it has no sara_core metadata")
    try:
        meta = json.loads(header[_META_KEY])
    except RecursionError:
        raise _bad(path, "its sara_core metadata is nested too deeply") from None
    except ValueError:
        raise _bad(path, "it has no sara_core metadata (not valid JSON)") from None
    if not isinstance(meta, dict):
        raise _bad(path, f"its sara_core metadata must be a JSON object, got {_kind(meta)}")
    return meta


def _kind(value: Any) -> str:
    """A JSON value's type, in words."""
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    return names.get(type(value)) or ("an object" if isinstance(value, dict) else "a list")


def _integer(path: Path, where: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(
            path, f"{where} must be an integer between {lo} and {hi}, got {short_repr(value)}"
        )
    return value


def _number(path: Path, where: str, value: Any, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(path, f"{where} must be a finite number, got {short_repr(value)}")
    if not -limit <= value <= limit:
        raise _bad(path, f"{where}={value:g} is out of range [{-limit:g}, {limit:g}]")
    return float(value)


def _choice(path: Path, where: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _bad(path, f"{where} must be one of {', '.join(choices)}, got {short_repr(value)}")
    return str(value)


def _settings(
    path: Path, meta: Mapping[str, Any], key: str, keys: tuple[str, ...]
) -> dict[str, Any] | None:
    """The settings object ``meta[key]`` (None when absent or null), with exactly ``keys``."""
    value = meta.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(path, f"'{key}' settings must be an object, got {_kind(value)}")
    if set(value) != set(keys):
        raise _bad(
            path,
            f"'{key}' settings must have exactly the fields {', '.join(keys)}, "
            f"got {short_repr(sorted(map(str, value)))}",
        )
    return value


def _check_meta(path: Path, meta: Mapping[str, Any], n_layers: int | None) -> None:
    """Every metadata field has its type, length and range; extra fields are a few scalars."""
    if meta.get("format") != FORMAT:
        raise _bad(path, f"metadata format is not {FORMAT!r}, got {short_repr(meta.get('format'))}")
    if type(meta.get("version")) is not int or meta["version"] != VERSION:
        raise _bad(
            path,
            f"unsupported version {short_repr(meta.get('version'))} (this build reads {VERSION})",
        )
    for key, limit in _TEXT_LIMITS.items():
        value = meta.get(key, "")
        if not isinstance(value, str):
            raise _bad(path, f"'{key}' must be text, got {_kind(value)}")
        if len(value) > limit:
            raise _bad(path, f"'{key}' is too long ({len(value)} characters; at most {limit})")
    top = MAX_LAYER if n_layers is None else n_layers - 1
    layer = meta.get("layer")
    if n_layers is not None and type(layer) is int and layer >= n_layers:
        raise _bad(path, f"it steers block {layer}, but this model has {n_layers} blocks")
    _integer(path, "'layer'", layer, 0, top)
    sara = _settings(path, meta, "sara", _SARA_KEYS)
    if sara is not None:
        _number(path, "SARA 'coeff'", sara["coeff"], MAX_COEFF)
        if sara["k"] is not None:
            _integer(path, "SARA 'k'", sara["k"], 1, MAX_K)
        _choice(path, "SARA 'sign'", sara["sign"], SIGNS)
        _choice(path, "SARA 'scope'", sara["scope"], SCOPES)
    actadd = _settings(path, meta, "actadd", _ACTADD_KEYS)
    if actadd is not None:
        _number(path, "ActAdd 'coeff'", actadd["coeff"], MAX_COEFF)
        _choice(path, "ActAdd 'mode'", actadd["mode"], MODES)
    extra = [key for key in meta if key not in (*_BASE_KEYS, "sara", "actadd")]
    if len(extra) > MAX_EXTRA_KEYS:
        raise _bad(path, f"{len(extra)} extra metadata fields, at most {MAX_EXTRA_KEYS}")
    for key in extra:
        value = meta[key]
        too_long = isinstance(value, str) and len(value) > MAX_MODEL_CHARS
        if len(key) > 64 or too_long or not isinstance(value, str | int | float | bool | None):
            raise _bad(
                path,
                f"extra metadata field {short_repr(key)} must have a short name and a number "
                f"or a text of at most {MAX_MODEL_CHARS} characters, got {_kind(value)}",
            )


def _shape(path: Path, fh: safe_open, key: str) -> tuple[int, ...]:
    """A tensor's shape from the header, after checking its name and dtype."""
    if key not in _KNOWN_TENSORS:
        raise _bad(
            path, f"unknown tensor {short_repr(key)}; expected some of {', '.join(_KNOWN_TENSORS)}"
        )
    view = fh.get_slice(key)
    dtype = view.get_dtype()
    if dtype not in _FLOAT_DTYPES:
        floats = "/".join(_FLOAT_DTYPES)
        raise _bad(path, f"tensor '{key}' must be finite floats ({floats}), got {dtype}")
    return tuple(view.get_shape())


def _check_tensors(
    path: Path,
    meta: Mapping[str, Any],
    shapes: Mapping[str, tuple[int, ...]],
    hidden_size: int | None,
) -> None:
    """The tensors match the settings, have sane shapes and one hidden size, the model's."""
    has_sara, has_actadd = meta.get("sara") is not None, meta.get("actadd") is not None
    if not has_sara and not has_actadd:
        raise _bad(path, "it holds neither a SARA nor an ActAdd steering")
    if has_sara and not set(_SARA_TENSORS) <= shapes.keys():
        raise _bad(path, "SARA settings present but its activations are missing")
    if has_actadd and "actadd.diff" not in shapes:
        raise _bad(path, "ActAdd settings present but its difference tensor is missing")
    for key in shapes:
        if not (has_sara if key.startswith("sara.") else has_actadd):
            raise _bad(path, f"tensor '{key}' has no settings in the metadata")
    hidden: dict[int, str] = {}
    for key, shape in shapes.items():
        rank = 1 if key == "sara.scores" else 2
        if len(shape) != rank:
            what = "(hidden,)" if rank == 1 else "(tokens, hidden)"
            raise _bad(path, f"tensor '{key}' must have shape {what}, got {list(shape)}")
        if rank == 2 and not 1 <= shape[0] <= MAX_ROWS:
            raise _bad(path, f"tensor '{key}' has {shape[0]} rows; it must have 1 to {MAX_ROWS}")
        if not 1 <= shape[-1] <= MAX_HIDDEN:
            raise _bad(path, f"tensor '{key}' has hidden size {shape[-1]} (1 to {MAX_HIDDEN})")
        hidden.setdefault(shape[-1], key)
    if len(hidden) > 1:
        sizes = ", ".join(f"{size} ('{key}')" for size, key in hidden.items())
        raise _bad(path, f"its tensors disagree on the hidden size: {sizes}")
    size = next(iter(hidden))
    if hidden_size is not None and size != hidden_size:
        raise _bad(
            path,
            f"tensor '{hidden[size]}' has hidden size {size}, the model has {hidden_size} "
            f"(made for {short_repr(meta.get('model') or 'another model')}?)",
        )


def _build(path: Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> SavedSteering:
    """The steerings, from metadata and tensors already checked."""
    saved = SavedSteering(meta=meta, scores=tensors.get("sara.scores"))
    try:
        if meta.get("sara") is not None:
            s = meta["sara"]
            saved.sara = SaraSteering(
                tensors["sara.attract_acts"],
                tensors["sara.repel_acts"],
                layer=meta["layer"],
                coeff=float(s["coeff"]),
                k=s["k"],
                sign=s["sign"],
                scope=s["scope"],
            )
        if meta.get("actadd") is not None:
            a = meta["actadd"]
            saved.actadd = ActAddSteering(
                tensors["actadd.diff"], layer=meta["layer"], coeff=float(a["coeff"]), mode=a["mode"]
            )
    except (ValueError, TypeError, RuntimeError) as exc:
        raise _bad(path, short_repr(str(exc))) from None
    return saved
