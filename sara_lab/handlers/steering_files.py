"""Steering files: download the last run's steering, upload one to reuse on a new dilemma.

Files are written by ``sara_core.steering.saved`` to the lab's private download folder
(:class:`sara_lab.downloads.DownloadFolder`, emptied by age in the background). An upload is read
against the session's model; the next runs hand it to the library's one resolver
(``PreparedSteerings``), which keeps its block and activations.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from sara_core.steering.saved import load_steering, save_steering
from sara_lab.downloads import DownloadFolder
from sara_lab.errors import user_error

if TYPE_CHECKING:
    from sara_lab.handlers.compare import RunRecord
    from sara_lab.lab import Lab

log = logging.getLogger("sara_lab")
MAX_AGE_S = 3600

_default: DownloadFolder | None = None


def default_folder() -> DownloadFolder:
    """The folder for callers that bring none (tests, scripts)."""
    global _default
    if _default is None:
        _default = DownloadFolder(MAX_AGE_S)
    return _default


def save_record(record: RunRecord, folder: DownloadFolder | None = None) -> Path:
    """Write the run's SARA and ActAdd steerings, with its texts, to one .safetensors file."""
    folder = folder or default_folder()
    folder.clean()
    result, request = record.result, record.request
    layer = result.settings.get("layer")
    model = record.model.replace("/", "_").replace(":", "_")
    path = folder.path / f"steering_{model}_L{layer}_{uuid.uuid4().hex[:6]}.safetensors"
    return save_steering(
        path,
        sara=result.sara_steering,
        actadd=result.actadd_steering,
        model=record.model,
        attract=request.attract,
        repel=request.repel,
        prompt=request.dilemma,
        extra={"app": "sara-lab"},
    )


def download_update(record: RunRecord, folder: DownloadFolder | None = None) -> Any:
    """The download button, showing the run's steering file (hidden if it cannot be written)."""
    try:
        path = save_record(record, folder)
    except (ValueError, OSError) as exc:
        log.warning("could not save the steering: %s", exc)
        return gr.update(visible=False)
    return gr.update(value=str(path), visible=True, interactive=True)


def upload_steering(lab: Lab, path: str | None, model_name: str | None) -> tuple[Any, ...]:
    """Read an uploaded steering; the next runs reuse it. Returns (steering, note, attract, repel,
    layer, SARA coefficient, ActAdd coefficient, sign, ActAdd mode) for the Steer tab."""
    if not path:
        return (None, "", *(gr.skip(),) * 7)
    name = Path(path).name
    if not name.endswith(".safetensors"):
        raise gr.Error(f"{name} is not a steering file: upload a .safetensors file saved here")
    try:
        lm = lab.models.get(model_name or lab.models.default, timeout=lab.settings.lock_timeout_s)
        saved = load_steering(path, hidden_size=lm.hidden_size, n_layers=lm.n_layers)
    except (ValueError, OSError) as exc:  # name the file, not the server's upload folder
        raise gr.Error(str(exc).replace(str(path), name)) from None
    except Exception as exc:  # noqa: BLE001
        raise user_error(exc) from None
    meta = saved.meta
    kinds = " + ".join(n for n, s in (("SARA", saved.sara), ("ActAdd", saved.actadd)) if s)
    made_for = meta.get("model") or "an unnamed model"
    note = (
        f"Using **{name}**: {kinds} at block {saved.layer}, made on `{made_for}`. "
        "The next run reuses its activations (the layer is fixed by the file); edit the "
        "attract or repel text, pick a stance or press *Forget* to compute a new steering."
    )
    sara, actadd = saved.sara, saved.actadd
    return (
        saved,
        note,
        meta.get("attract") or gr.skip(),
        meta.get("repel") or gr.skip(),
        gr.update(value=saved.layer),
        sara.coeff if sara else gr.skip(),
        actadd.coeff if actadd else gr.skip(),
        sara.sign if sara else gr.skip(),
        actadd.mode if actadd else gr.skip(),
    )


def forget_steering() -> tuple[None, str]:
    """Drop the uploaded steering: the next run computes a new one from the texts."""
    return None, "The uploaded steering is no longer used."
