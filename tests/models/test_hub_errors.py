"""The hub's failures in one line (sara_core.models.hub_errors), through the real stack: load_model,
transformers and huggingface_hub, whose HTTP client answers from a function here (an
``httpx2.MockTransport``), so the hub's own code raises its own exceptions and nothing leaves
the machine."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import httpx2
import pytest

from sara_core.models.errors import ModelLoadError
from sara_core.models.hub_errors import check_hub, explain_load_error, hub_reason
from sara_core.models.loading import load_model

GATED = "google/gemma-2-2b-it"
Answer = Callable[[httpx2.Request], httpx2.Response]


class FakeHub:
    """What the hub answers (``answer``) and what it was asked (``asked``)."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.answer: Answer = lambda request: httpx2.Response(500, request=request)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.asked.append(f"{request.method} {request.url.path}")
        return self.answer(request)


@pytest.fixture
def hub(monkeypatch, tmp_path) -> Iterator[FakeHub]:
    """huggingface_hub online, with an empty cache, no token, and a fake server."""
    from huggingface_hub import constants, set_client_factory
    from huggingface_hub.utils import _http

    fake = FakeHub()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    set_client_factory(
        lambda: httpx2.Client(
            transport=httpx2.MockTransport(fake.handle),
            event_hooks={"request": [_http.hf_request_event_hook]},
            follow_redirects=True,
        )
    )
    try:
        yield fake
    finally:
        set_client_factory(_http.default_client_factory)


def error_code(code: str, status: int = 401) -> Answer:
    """The hub's answer for a gated or unknown repo (it says which in ``X-Error-Code``)."""
    return lambda request: httpx2.Response(
        status, headers={"X-Error-Code": code, "X-Error-Message": "no"}, request=request
    )


def no_network(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ConnectError("[Errno -2] Name or service not known", request=request)


def load_error(model_id: str) -> str:
    with pytest.raises(ModelLoadError) as info:
        load_model(model_id)
    message = str(info.value)
    assert "\n" not in message  # one line
    return message


def test_a_gated_model_without_a_token_names_hf_token_and_the_model_page(hub):
    hub.answer = error_code("GatedRepo")
    message = load_error(GATED)
    assert message.startswith(f"{GATED} is a gated model: accept its licence on ")
    assert f"https://huggingface.co/{GATED}," in message and "set HF_TOKEN" in message
    assert hub.asked == [f"HEAD /{GATED}/resolve/main/config.json"]  # asked once, no retries


def test_a_gated_model_with_a_token_without_access_says_so(hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    hub.answer = error_code("GatedRepo", 403)
    message = load_error(GATED)
    assert "the Hugging Face token here (HF_TOKEN) has no access" in message
    assert f"https://huggingface.co/{GATED} " in message


def test_an_unknown_model_says_so(hub):
    hub.answer = error_code("RepoNotFound")
    message = load_error("nobody/no-such-model")
    assert message.startswith("nobody/no-such-model is neither a local folder nor a model")
    assert "https://huggingface.co/nobody/no-such-model" in message


def test_no_network_is_one_line_at_once_not_a_minute_of_retries(hub, caplog):
    hub.answer = no_network
    start = time.monotonic()
    with caplog.at_level(logging.WARNING):
        message = load_error(GATED)
    assert message.startswith("cannot reach the Hugging Face hub (https://huggingface.co)")
    assert f"download {GATED}" in message
    assert len(hub.asked) == 1 and "Retrying" not in caplog.text
    assert time.monotonic() - start < 30  # huggingface_hub's own backoff sleeps 23 s per file


def test_offline_mode_says_the_hub_is_switched_off(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    message = load_error("nobody/no-such-model")
    assert "not in the local Hugging Face cache and the hub is switched off" in message


def test_a_cached_model_asks_the_hub_nothing(hub, tmp_path):
    hub.answer = no_network
    snapshot = tmp_path / "hub" / "models--some--model" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "hub" / "models--some--model" / "refs").mkdir()
    (tmp_path / "hub" / "models--some--model" / "refs" / "main").write_text("abc")
    check_hub("some/model")
    check_hub(str(tmp_path))  # a local folder
    assert hub.asked == []
    with pytest.raises(ConnectionError):
        check_hub("some/other-model")


def test_other_hub_answers_are_left_to_from_pretrained(hub):
    hub.answer = lambda request: httpx2.Response(404, request=request)  # e.g. a GGUF-only repo
    check_hub("some/gguf-model")  # not ours to judge: transformers says what it lacks
    hub.answer = error_code("GatedRepo")
    with pytest.raises(OSError):
        check_hub(GATED)


def test_the_reason_is_read_from_the_classes_of_the_chain_not_the_text():
    from huggingface_hub import errors as hf

    def raised_from(outer: BaseException, inner: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except BaseException as exc:
                raise outer from exc
        except BaseException as caught:  # noqa: BLE001
            return caught

    offline = hf.OfflineModeIsEnabled("x")
    wrapped = raised_from(OSError("/srv/secret: gated, see https://x"), offline)
    assert "/srv/secret" not in (hub_reason(wrapped, "a/b") or "")
    assert "switched off" in (hub_reason(wrapped, "a/b") or "")
    assert hub_reason(KeyError("gated"), "a/b") is None
    assert hub_reason(TimeoutError("a lock"), "a/b") is None  # not every timeout is the network
    other = explain_load_error(KeyError("model_type"), "a/b")
    assert other == "could not load model 'a/b': 'model_type'"
    loop = OSError("outer")
    loop.__context__ = OSError("inner")
    loop.__context__.__context__ = loop  # chains can loop
    assert hub_reason(loop, "a/b") is None
