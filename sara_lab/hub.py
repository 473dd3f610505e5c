"""Which models the app will load: the public allowlist and the cap on hub downloads.

Every path that loads a model (page load, model switch, steering upload, sweep, every API call)
goes through the :class:`~sara_lab.model_manager.ModelManager`, which calls
:meth:`ModelPolicy.check` before loading, so the rules hold server-side whatever a client sends. The
size of a hub model is read from the hub's file list (``huggingface_hub``) before anything is
downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sara_core.models.errors import ModelLoadError
from sara_core.models.hub_errors import hub_reason
from sara_core.models.names import hub_gguf, is_hub_id, is_random_id

if TYPE_CHECKING:
    from sara_lab.settings import Settings

log = logging.getLogger("sara_lab")

# Weight formats transformers does not fetch for a PyTorch model (or fetches only as a fallback).
OTHER_WEIGHTS = (".gguf", ".onnx", ".h5", ".msgpack", ".ckpt", ".pt", ".pth", ".tflite", ".ot")
HUB_TIMEOUT_S = 20.0

RepoFiles = Callable[[str], Mapping[str, int | None]]
"""repo id -> {file name: size in bytes (None if unknown)}; the hub in the app, a stub in tests."""


class ModelRefused(ModelLoadError):
    """A model this app will not load; the message says why and is safe to show a visitor."""


def hub_files(repo_id: str) -> dict[str, int | None]:
    """The files of a hub model and their sizes (one metadata request, no download)."""
    from huggingface_hub import HfApi

    info = HfApi().model_info(repo_id, files_metadata=True, timeout=HUB_TIMEOUT_S)
    return {s.rfilename: s.size for s in info.siblings or []}


def download_bytes(files: Mapping[str, int | None]) -> int | None:
    """Bytes ``from_pretrained`` would fetch: the top-level files, with only one weight format
    (safetensors if the repo has them, else PyTorch ``.bin``). None if a size is unknown."""
    top = {name: size for name, size in files.items() if "/" not in name}
    safetensors = {n: s for n, s in top.items() if n.endswith(".safetensors")}
    weights = safetensors or {n: s for n, s in top.items() if n.endswith(".bin")}
    rest = {
        n: s for n, s in top.items() if not n.endswith((".safetensors", ".bin", *OTHER_WEIGHTS))
    }
    sizes = [*weights.values(), *rest.values()]
    if any(s is None for s in sizes):
        return None
    return sum(s or 0 for s in sizes)


@dataclass(frozen=True)
class ModelPolicy:
    """The rules a model name must pass before it is loaded."""

    public: bool = False
    allowlist: tuple[str, ...] = ()
    online: bool = False
    max_download_bytes: int = 0  # 0: no cap
    trusted: str = ""  # the operator's own model (SARA_MODEL): never capped
    files: RepoFiles = field(default=hub_files, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, files: RepoFiles = hub_files) -> ModelPolicy:
        return cls(
            public=settings.public,
            allowlist=settings.allowlist,
            online=settings.online,
            max_download_bytes=settings.max_download_mb * 1_000_000,
            trusted=settings.model,
            files=files,
        )

    def _download_size(self, name: str) -> int | None:
        """Bytes a load of ``name`` fetches: a hub repo's GGUF file alone, else the repo's
        files as ``from_pretrained`` would take them."""
        gguf = hub_gguf(name)
        if gguf is None:
            return download_bytes(self.files(name))
        repo, file = gguf
        return self.files(repo).get(file)

    def check(self, name: str) -> None:
        """Raise :class:`ModelRefused` if ``name`` may not be loaded here."""
        if self.public and is_random_id(name):  # whatever the allowlist says
            raise ModelRefused(
                "random-weight models (random:NAME) are for tests and benchmarks: this public "
                "demo does not serve them"
            )
        if self.public and name not in self.allowlist:
            raise ModelRefused(
                f"this public demo only serves these models: {', '.join(self.allowlist)}"
            )
        if name == self.trusted or not self.online or not self.max_download_bytes:
            return
        if not is_hub_id(name):
            return
        try:
            size = self._download_size(name)
        except Exception as exc:  # noqa: BLE001 - any hub failure: we cannot vouch for its size
            log.warning("could not read the file list of %r on the hub", name, exc_info=True)
            reason = hub_reason(exc, name)  # unknown, gated, no network: say which
            if reason is not None:
                raise ModelRefused(reason) from None
            size = None
        if size is None:
            raise ModelRefused(
                f"could not check the size of {name!r} on the hub (it may not exist, be private, "
                "or the hub may be unreachable): choose another model"
            )
        if size > self.max_download_bytes:
            raise ModelRefused(
                f"{name} is too large for this server: {size / 1e6:,.0f} MB to download, the "
                f"limit is {self.max_download_bytes / 1e6:,.0f} MB"
            )
