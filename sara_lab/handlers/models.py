"""The page's model: wait for it on page load, switch it for a session (Model tab).

Every load goes through the ModelManager, which applies the public allowlist and the download
cap whatever the caller sends; a waiting request gives up after the settings' lock timeout."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from sara_core.models.errors import ModelBusyError, ModelLoadError
from sara_core.models.loading import LoadedModel
from sara_core.models.names import canonical
from sara_lab import render
from sara_lab.defaults import initial_layer, initial_strengths, layer_label

if TYPE_CHECKING:
    from sara_lab.lab import Lab
    from sara_lab.settings import Settings

log = logging.getLogger("sara_lab")

READY = "▶  Compare the answers"
MAX_NAME_CHARS = 300
PAGE_LOAD_WAIT_S = 600.0  # a page opened while the model loads waits this long for it


def model_choices(settings: Settings) -> list[str]:
    """The Model tab's list: the allowlist; outside public mode also the packaged ``pypi:``
    models installed here (``python -m sara_core models``), which load offline."""
    choices = list(settings.allowlist)
    if settings.public:
        return choices
    from sara_core.models import packaged

    try:
        installed = [s.model_id for s in packaged.status() if s.installed]
    except (ValueError, OSError) as exc:  # a bad presets/models.yaml must not stop the page
        log.warning("no packaged models listed: %s", exc)
        installed = []
    return choices + [m for m in installed if m not in choices]


def layer_update(lm: LoadedModel, value: int | None = None) -> Any:
    """The layer slider sized for ``lm``: blocks 0..n-1, on its measured default block (else
    the middle one) unless given."""
    return gr.update(
        minimum=0,
        maximum=lm.n_layers - 1,
        value=initial_layer(lm) if value is None else value,
        label=layer_label(lm),
        visible=True,
    )


def strength_updates(model_name: str | None) -> tuple[Any, Any]:
    """SARA's λ and ActAdd's c sliders set to the model's measured defaults (else λ 1, c 4):
    a strength measured on one model can break another (ActAdd at c 4 on Gemma 3 270M)."""
    sara_coeff, actadd_coeff = initial_strengths(model_name)
    return gr.update(value=sara_coeff), gr.update(value=actadd_coeff)


def page_load(lab: Lab, model_name: str | None) -> tuple[Any, Any, Any, Any]:
    """On page load: wait for the session's model, then show it and size the layer slider.
    Returns (model line, layer slider, Compare button, model facts)."""
    name = model_name or lab.models.default
    try:
        lm = lab.models.get(name, timeout=PAGE_LOAD_WAIT_S)
    except ModelBusyError:
        return (
            render.model_markdown(None, None, name),
            gr.skip(),
            gr.update(interactive=False, value="Still loading: reload the page in a minute"),
            gr.skip(),
        )
    except ModelLoadError as exc:
        return (
            render.model_markdown(None, str(exc), name),
            gr.skip(),
            gr.update(interactive=False, value="Model not loaded: see the Model tab"),
            gr.skip(),
        )
    return (
        render.model_markdown(lm),
        layer_update(lm),
        gr.update(interactive=True, value=READY),
        lm.describe(),
    )


def switch_model(
    lab: Lab,
    choice: str | None,
    custom: str | None,
    current: str | None,
    progress: gr.Progress | None = None,
) -> tuple[Any, ...]:
    """Load another model for this session; on failure keep the current one. Returns (model
    name, model line, layer slider, model facts, uploaded steering dropped, note)."""
    settings = lab.settings
    if settings.public and (custom or "").strip():
        raise gr.Error("this public demo does not load models by name: choose one from the list")
    wanted = canonical((custom or "").strip() or choice or "")
    if not wanted:
        raise gr.Error("choose a model first")
    if settings.public and wanted not in settings.allowlist:
        raise gr.Error(
            f"this public demo only serves these models: {', '.join(settings.allowlist)}"
        )
    if len(wanted) > MAX_NAME_CHARS:
        raise gr.Error("that model name is too long")
    if progress is not None:
        progress(None, desc=f"Loading {wanted}…")
    keep = current or lab.models.default
    try:
        lm = lab.models.get(wanted, timeout=settings.lock_timeout_s)
    except (ModelLoadError, ModelBusyError) as exc:  # messages safe to show (see ModelManager)
        raise gr.Error(f"{exc}. Still using {keep}.") from None
    return (
        wanted,
        render.model_markdown(lm),
        layer_update(lm),
        lm.describe(),
        None,
        f"Now using **{lm.name}**.",
    )
