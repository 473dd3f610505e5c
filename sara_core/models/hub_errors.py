"""The Hugging Face hub's failures, said in one line: a gated model, an unknown one, no network.

``from_pretrained`` wraps the hub's exceptions (``huggingface_hub.errors``) into an ``OSError``
whose text is several lines long, raised ``from`` the hub's own exception; with no network,
``huggingface_hub`` first retries each missing file five times with backoff (about a minute of
"Retrying in 8s" warnings) before it gives up. Here :func:`check_hub` asks the hub once, without
retries, before anything is loaded, and :func:`explain_load_error` reads the exception chain by
class (never by message text, which changes between versions) into one line that says what to do.
"""

from __future__ import annotations

import socket
from pathlib import Path

HUB = "https://huggingface.co"
TOKENS_PAGE = f"{HUB}/settings/tokens"
MAX_CHAIN = 20  # exceptions followed through __cause__ / __context__
# network errors of the HTTP clients the hub and transformers use, matched by class name so that
# none of them has to be importable here (huggingface_hub 1.x uses httpx, 2.x httpx2)
NETWORK_CLASSES = {
    "ConnectError",
    "ConnectTimeout",
    "ConnectionError",
    "NetworkError",
    "Timeout",
    "TimeoutException",
}
NETWORK_MODULES = {"httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3"}


def model_page(model_id: str) -> str:
    """The model's page on the hub (where its licence is accepted)."""
    return f"{HUB}/{model_id.strip()}"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from or during, each once (cycles happen), at most
    ``MAX_CHAIN``."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < MAX_CHAIN:
        item = todo.pop(0)
        if any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [e for e in (item.__cause__, item.__context__) if e is not None]
    return seen


def _is_network(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | socket.gaierror):
        return True
    return any(
        cls.__name__ in NETWORK_CLASSES and cls.__module__.split(".")[0] in NETWORK_MODULES
        for cls in type(exc).__mro__
    )


def _has_token() -> bool:
    from huggingface_hub import get_token

    try:
        return bool(get_token())
    except Exception:  # noqa: BLE001 - an unreadable token file is no token
        return False


def hub_reason(exc: BaseException, model_id: str) -> str | None:
    """One line on why the hub could not give ``model_id``, if ``exc`` (or an exception it was
    raised from) is one of the hub's known failures; None otherwise. The line holds only the
    model id and our own words, so it is safe to show a visitor of a public app."""
    from huggingface_hub import constants as hh_constants, errors as hf

    model_id = model_id.strip()
    page = model_page(model_id)
    chain = _chain(exc)

    def seen(kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
        return any(isinstance(e, kind) for e in chain)

    if seen(hf.GatedRepoError):
        if _has_token():
            return (
                f"{model_id} is a gated model and the Hugging Face token here (HF_TOKEN) has no "
                f"access to it: accept its licence on {page} with the account of that token"
            )
        return (
            f"{model_id} is a gated model: accept its licence on {page}, then set HF_TOKEN to an "
            f"access token of that account ({TOKENS_PAGE})"
        )
    if seen(hf.RepositoryNotFoundError):
        return (
            f"{model_id} is neither a local folder nor a model on the Hugging Face hub ({page}): "
            "check the name, or set HF_TOKEN if it is a private model"
        )
    if seen(hf.RevisionNotFoundError):
        return f"{model_id}: that revision does not exist on the hub ({page})"
    if seen(hf.OfflineModeIsEnabled) or (
        seen(hf.LocalEntryNotFoundError) and hh_constants.is_offline_mode()
    ):
        return (
            f"{model_id} is not in the local Hugging Face cache and the hub is switched off "
            "(HF_HUB_OFFLINE=1): download it once with the network on, or give a local folder"
        )
    if any(_is_network(e) for e in chain) or seen(hf.LocalEntryNotFoundError):
        return (
            f"cannot reach the Hugging Face hub ({HUB}) to download {model_id}, and it is not in "
            "the local cache: check the network connection (or proxy), or give a local folder"
        )
    if seen(hf.HFValidationError):
        return (
            f"{model_id!r} is neither a local folder nor a model id of the Hugging Face hub "
            "(owner/name)"
        )
    return None


def explain_load_error(exc: BaseException, model_id: str) -> str:
    """One line for a model that could not be loaded: the hub's reason (:func:`hub_reason`), or
    else the first line of the error itself."""
    reason = hub_reason(exc, model_id)
    if reason is not None:
        return reason
    text = str(exc).strip() or type(exc).__name__
    return f"could not load model {model_id.strip()!r}: {text.splitlines()[0][:300]}"


def check_hub(model_id: str, timeout: float | None = None) -> None:
    """Where ``model_id`` names a hub model that is not in the local cache, ask the hub once,
    without retries, whether it will give it (one HEAD request for its ``config.json``).

    Raises the hub's own error for a gated, private or unknown model and in offline mode, and a
    ``ConnectionError`` (from the client's error) when the hub cannot be reached, so that
    :func:`explain_load_error` says so in seconds instead of after a minute of retries. Any other
    answer (the file is missing, the server errs) is left to ``from_pretrained``. A local folder
    or a cached model asks nothing."""
    import huggingface_hub as hh
    from huggingface_hub import constants, errors as hf
    from huggingface_hub.utils import validate_repo_id

    model_id = model_id.strip()
    if Path(model_id).expanduser().exists():
        return
    validate_repo_id(model_id)  # HFValidationError (a ValueError) for a non-id
    if isinstance(hh.try_to_load_from_cache(model_id, "config.json"), str):
        return
    url = hh.hf_hub_url(model_id, "config.json")
    try:
        hh.get_hf_file_metadata(url, timeout=timeout or constants.HF_HUB_ETAG_TIMEOUT)
    except (hf.RepositoryNotFoundError, hf.RevisionNotFoundError, hf.OfflineModeIsEnabled):
        raise
    except Exception as exc:  # noqa: BLE001 - only a network failure stops the load here
        if _is_network(exc):
            raise ConnectionError(f"cannot reach {constants.ENDPOINT}") from exc
