"""From a request's ``steering`` field (or the server's default) to the steering a row gets.

Two steps, as in the library's ``plan_compare`` / ``build_steerings``: :meth:`Resolver.plan`
checks everything against the model before any work (a 400 for an unknown stance, a block the
model lacks, equal attract and repel, a k too large, a bad steering file), and
:meth:`Resolver.build` makes the steering, which needs forward passes (it runs in the batch
scheduler's thread, under the model's lock) through the library's one resolver
(:func:`sara_core.engine.planning.sara_steering` / ``actadd_steering``), whose preparation cache
keeps the activations, so a server default or a popular stance costs its forward passes once.
Steering files read from the server's folder are kept by path, size and time.

A request's steering replaces the default entirely; ``{"method": "none"}`` turns steering off.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sara_core.config import SteeringConfig
from sara_core.engine.planning import actadd_steering, sara_steering
from sara_core.models.loading import LoadedModel
from sara_core.models.names import canonical
from sara_core.presets.defaults import strengths_for
from sara_core.presets.stances import Stance, get_stance
from sara_core.prompts import check_text, encode_steering_text
from sara_core.serve.errors import bad_request, from_input_error
from sara_core.serve.schema import SteeringRequest
from sara_core.steering.interface import Steering
from sara_core.steering.sara import SaraSteering
from sara_core.steering.saved import SavedSteering, load_steering
from sara_core.validation import InputError, same_text

FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A steering file's name in a request: a plain name inside the server's folder, no path."""
SUFFIX = ".safetensors"
FILE_CACHE_ENTRIES = 64


@dataclass(frozen=True)
class SteeringPlan:
    """A checked steering: what :meth:`Resolver.build` makes, and what the response reports."""

    method: str  # "sara", "actadd" or "none"
    layer: int = -1
    coeff: float = 0.0
    k: int | None = None
    scope: str = "prompt"
    sign: str = "raw"
    actadd_mode: str = "prefix"
    attract: str = ""
    repel: str = ""
    source: str = ""  # "stance:NAME", "texts" or "file:NAME"
    saved: SavedSteering | None = None
    max_k: int | None = None  # the attract/repel token counts' minimum (SARA's k bound)

    def describe(self) -> dict[str, Any]:
        """What a response says about the steering it applied."""
        if self.method == "none":
            return {"method": "none"}
        out: dict[str, Any] = {
            "method": self.method,
            "source": self.source,
            "layer": self.layer,
            "coeff": self.coeff,
        }
        if self.method == "sara":
            out.update(k=self.k, scope=self.scope, sign=self.sign)
        else:
            out["actadd_mode"] = self.actadd_mode
        return out


NONE = SteeringPlan("none")


class Resolver:
    """Plans and builds steerings for one model; holds the default and the files it has read."""

    def __init__(
        self,
        lm: LoadedModel,
        stances: Sequence[Stance] = (),
        folder: Path | None = None,
        default: SteeringRequest | None = None,
        default_file: Path | None = None,
    ):
        self.lm = lm
        self.stances = list(stances)
        self.folder = folder.resolve() if folder is not None else None
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.default = NONE
        if default_file is not None:
            saved = self._load(default_file, default_file.name)
            self.default = self._plan_file(default or SteeringRequest(), saved, default_file.name)
        elif default is not None:
            self.default = self.plan(default)

    # -- checking ---------------------------------------------------------------------------

    def plan(self, req: SteeringRequest | None) -> SteeringPlan:
        """The request's steering, checked (None: the server default)."""
        if req is None:
            return self.default
        if req.method == "none":
            return NONE
        if req.file is not None:
            if req.stance or req.attract or req.repel:
                raise bad_request("give a steering 'file' or texts, not both", "steering.file")
            return self._plan_file(req, self._saved(req.file), f"file:{req.file}")
        if req.stance is not None:
            if req.attract or req.repel:
                raise bad_request(
                    "give a steering 'stance' or 'attract'/'repel', not both", "steering.stance"
                )
            try:
                stance = get_stance(req.stance, self.stances or None)
            except ValueError as exc:
                raise from_input_error(exc, "steering.stance") from None
            return self._plan_texts(req, stance.attract, stance.repel, f"stance:{stance.name}")
        if req.attract is None or req.repel is None:
            raise bad_request(
                "steering needs a 'stance', both 'attract' and 'repel', or a 'file' "
                '(or {"method": "none"})',
                "steering",
            )
        return self._plan_texts(req, req.attract, req.repel, "texts")

    def _config(self, req: SteeringRequest, method: str, **defaults: Any) -> SteeringConfig:
        given = {
            k: v
            for k, v in {
                "layer": req.layer,
                "k": req.k,
                "scope": req.scope,
                "sign": req.sign,
                "actadd_mode": req.actadd_mode,
            }.items()
            if v is not None
        }
        saved_coeff = defaults.pop("coeff", None)
        coeff = req.coeff if req.coeff is not None else saved_coeff
        if coeff is not None:
            given["sara_coeff" if method == "sara" else "actadd_coeff"] = coeff
        try:
            return SteeringConfig(**{**defaults, **given}).validate(self.lm.n_layers)
        except InputError as exc:
            raise from_input_error(exc, f"steering.{_field_of(str(exc))}") from None

    def _plan_texts(self, req: SteeringRequest, attract: str, repel: str, source: str):
        method = req.method or "sara"
        sara_coeff, actadd_coeff = strengths_for(canonical(self.lm.name))  # as the CLI does
        cfg = self._config(req, method, sara_coeff=sara_coeff, actadd_coeff=actadd_coeff)
        try:
            attract = check_text(self.lm, "the attract prompt", attract)
            repel = check_text(self.lm, "the repel prompt", repel)
        except InputError as exc:
            raise from_input_error(exc, "steering") from None
        if same_text(attract, repel):
            raise bad_request(
                "attract and repel are the same text: steering needs two different prompts",
                "steering",
            )
        n = min(len(encode_steering_text(self.lm, t)) for t in (attract, repel))
        return self._finish(method, cfg, attract, repel, source, None, n)

    def _plan_file(self, req: SteeringRequest, saved: SavedSteering, source: str):
        method = req.method or ("sara" if saved.sara is not None else "actadd")
        held = saved.sara if method == "sara" else saved.actadd
        if held is None:
            raise bad_request(f"the steering file {source} holds no {method} steering", "steering")
        if req.layer is not None:
            asked = self._config(req, method).resolved_layer(self.lm.n_layers)
            if asked != saved.layer:
                raise bad_request(
                    f"the layer asked for ({asked}) differs from the steering file's block "
                    f"{saved.layer}: leave 'layer' out",
                    "steering.layer",
                )
        kept: dict[str, Any] = {"layer": saved.layer, "coeff": held.coeff}
        if isinstance(held, SaraSteering):
            kept.update(k=held.k, scope=held.scope, sign=held.sign)
        else:
            kept["actadd_mode"] = held.mode
        cfg = self._config(replace(req, layer=None), method, **kept)
        max_k = held.max_k if isinstance(held, SaraSteering) else None
        meta = saved.meta
        texts = str(meta.get("attract", "")), str(meta.get("repel", ""))
        return self._finish(method, cfg, *texts, source, saved, max_k)

    def _finish(self, method, cfg, attract, repel, source, saved, max_k) -> SteeringPlan:
        if method == "sara" and cfg.k is not None and max_k is not None and cfg.k > max_k:
            raise bad_request(
                f"k={cfg.k} is too large: the attract and repel prompts allow at most {max_k}",
                "steering.k",
            )
        return SteeringPlan(
            method=method,
            layer=cfg.resolved_layer(self.lm.n_layers),
            coeff=cfg.sara_coeff if method == "sara" else cfg.actadd_coeff,
            k=cfg.k,
            scope=cfg.scope,
            sign=cfg.sign,
            actadd_mode=cfg.actadd_mode,
            attract=attract,
            repel=repel,
            source=source,
            saved=saved,
            max_k=max_k,
        )

    def check_prompt(self, plan: SteeringPlan, prompt_tokens: int) -> None:
        """SARA's k must also fit the conversation's own token count."""
        if plan.method == "sara" and plan.k is not None and plan.k > prompt_tokens:
            raise bad_request(
                f"k={plan.k} is too large: the conversation has {prompt_tokens} tokens",
                "steering.k",
            )

    # -- steering files ---------------------------------------------------------------------

    def _saved(self, name: str) -> SavedSteering:
        if self.folder is None:
            raise bad_request(
                "this server has no steering folder (--steering-dir)", "steering.file"
            )
        if not FILE_NAME.fullmatch(name) or ".." in name:
            raise bad_request(
                "steering.file must be a plain file name in the server's steering folder",
                "steering.file",
            )
        path = self.folder / (name if name.endswith(SUFFIX) else name + SUFFIX)
        if path.resolve().parent != self.folder or not path.is_file():
            raise bad_request(f"no steering file {name!r} in the server's folder", "steering.file")
        return self._load(path, name)

    def _load(self, path: Path, name: str) -> SavedSteering:
        stat = path.stat()
        key = ("file", str(path), stat.st_mtime_ns, stat.st_size)
        saved = self._cached(key)
        if saved is None:
            try:
                saved = load_steering(path, self.lm.hidden_size, self.lm.n_layers)
            except ValueError as exc:
                raise from_input_error(exc, "steering.file") from None
            self._store(key, saved)
        return saved

    # -- building (forward passes: the scheduler's thread, under the model's lock) ------------

    def build(self, plan: SteeringPlan) -> tuple[Steering, ...]:
        """The steering of a plan, ready for a decode row (a fresh object per request): the
        library's own resolver, so activations come from the model's preparation cache."""
        if plan.method == "none":
            return ()
        cfg = SteeringConfig(
            sara_coeff=plan.coeff,
            actadd_coeff=plan.coeff,
            k=plan.k,
            scope=plan.scope,
            sign=plan.sign,
            actadd_mode=plan.actadd_mode,
        )
        saved = plan.saved
        if plan.method == "sara":
            held = saved.sara if saved is not None else None
            return (sara_steering(self.lm, plan.attract, plan.repel, plan.layer, cfg, held),)
        held_actadd = saved.actadd if saved is not None else None
        return (actadd_steering(self.lm, plan.attract, plan.repel, plan.layer, cfg, held_actadd),)

    def _cached(self, key: tuple) -> Any:
        with self._lock:
            value = self._cache.get(key)
            if value is not None:
                self._cache.move_to_end(key)
            return value

    def _store(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > FILE_CACHE_ENTRIES:
                self._cache.popitem(last=False)


def _field_of(message: str) -> str:
    for name in ("layer", "k", "sara_coeff", "actadd_coeff", "scope", "sign", "actadd_mode"):
        if message.startswith(name):
            return "coeff" if name.endswith("coeff") else name
    return "steering"
