"""Reading a checkpoint converted to another dtype without holding the file and the copy at once.

transformers reads safetensors memory-mapped. While the weights keep the file's dtype that costs
nothing (the parameters are views of the file). But a conversion, say a bfloat16 checkpoint
loaded in float32 on a CPU, touches every page of the map while it allocates the converted
copy, and both stay resident until the load ends: three times the file for a bfloat16 file loaded
in float32, over the bound that a compare must stay within (docs/real-models.md has the
figures). safetensors' ``pread`` backend
reads each tensor into memory when it is converted and frees it after, so the peak is the
converted weights plus one tensor. transformers chooses pread only on Windows and
MPS; here it is handed the tensors through ``from_pretrained``'s own ``state_dict`` argument,
read by safetensors itself. Nothing else about the load changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import torch

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64}


def safetensors_files(folder: Path) -> list[Path]:
    """The checkpoint's safetensors files in ``folder`` (sharded or not); [] if it has none."""
    index = folder / INDEX
    if index.is_file():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        files = [folder / name for name in names]
        return files if all(f.is_file() for f in files) else []
    single = folder / SINGLE
    return [single] if single.is_file() else []


def file_dtypes(files: list[Path]) -> set[torch.dtype]:
    """The floating dtypes the files store (read from their headers, no tensor is read)."""
    from safetensors import safe_open

    found: set[torch.dtype] = set()
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - a safe_open handle is not iterable
                kind = handle.get_slice(key).get_dtype()
                if kind in _DTYPES:
                    found.add(_DTYPES[kind])
    return found


def converts(folder: Path, config: Any, dtype: torch.dtype, device: torch.device) -> list[Path]:
    """The files to read through pread: those of a CPU load that converts their dtype. [] keeps
    transformers' own path (no safetensors, same dtype, another device, a quantized model)."""
    if device.type != "cpu" or getattr(config, "quantization_config", None) is not None:
        return []
    files = safetensors_files(folder)
    if not files or file_dtypes(files) <= {dtype}:
        return []
    return files


@contextmanager
def pread_state_dict(files: list[Path]) -> Iterator[dict[str, Any]]:
    """Every tensor of ``files`` as a lazy slice read by pread when it is loaded; the files
    are closed on every path."""
    from safetensors import safe_open

    with ExitStack() as stack:
        state: dict[str, Any] = {}
        for file in files:
            handle = stack.enter_context(
                safe_open(str(file), framework="pt", device="cpu", backend="pread")
            )
            for key in handle.keys():  # noqa: SIM118 - not iterable
                state[key] = handle.get_slice(key)
        yield state


def load_converting(folder: Path, files: list[Path], config: Any, dtype: torch.dtype) -> Any:
    """The causal LM of ``config`` with the weights of ``files`` converted to ``dtype``, one
    tensor at a time. Its generation settings come from the folder, as from_pretrained's do."""
    from transformers import GenerationConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    model_class: Any = MODEL_FOR_CAUSAL_LM_MAPPING[type(config)]
    with pread_state_dict(files) as state:
        # A concrete class: the Auto class deep-copies its arguments, and slices cannot be.
        model = model_class.from_pretrained(None, config=config, dtype=dtype, state_dict=state)
    with suppress(OSError):  # no generation_config.json: the one built from the config stays
        model.generation_config = GenerationConfig.from_pretrained(folder)
    return model
