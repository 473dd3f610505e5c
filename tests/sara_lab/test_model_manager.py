"""The model cache (sara_lab.model_manager.ModelManager): loads, schedulers, eviction, failures."""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref

import pytest
from conftest import make_tiny_lm

from sara_core.models.errors import ModelBusyError, ModelLoadError
from sara_core.models.names import EMBEDDED_ID, canonical
from sara_lab.hub import ModelRefused
from sara_lab.model_manager import RETRY_FIRST_S, Batching, LoadFailed, ModelManager, model_for
from sara_lab.render import model_markdown


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_model_manager_loads_once_under_concurrency_and_keeps_the_default(tiny):
    calls = []

    def loader(name):
        calls.append(name)
        time.sleep(0.05)
        return tiny

    manager = ModelManager(loader=loader, default="a", capacity=2)
    threads = [threading.Thread(target=manager.get, args=("a",)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["a"]
    manager.get("b")
    manager.get("c")  # evicts b, never the default
    assert manager.loaded("a") is tiny and manager.loaded("b") is None
    assert canonical("default") == canonical(" ") == EMBEDDED_ID
    assert model_for(manager.id, "a") is tiny  # how a ZeroGPU worker finds it


def test_a_failed_load_shows_a_safe_message_and_logs_the_trace(caplog):
    def loader(name):
        raise OSError("Incorrect path_or_model_id: '/srv/secret/models/x'")

    manager = ModelManager(loader=loader, default="x")
    with caplog.at_level(logging.ERROR, logger="sara_lab"), pytest.raises(LoadFailed) as info:
        manager.get()
    message = str(info.value)
    assert "/srv/secret" not in message and "OSError" not in message
    assert message.startswith("could not load 'x': it could not be read as a causal language")
    assert "/srv/secret" in caplog.text  # the trace went to the server log, under the reference
    assert message.split("reference ")[1][:8] in caplog.text
    assert manager.error() == message
    manager.start()
    manager.join(5)  # the background load fails quietly and records the error
    assert model_markdown(None, manager.error(), "x").startswith("**Model x could not")


def test_a_failed_load_is_retried_only_after_a_growing_pause(tiny):
    clock, calls = Clock(), []

    def loader(name):
        calls.append(name)
        if len(calls) < 3:
            raise ModelLoadError("offline")
        return tiny

    manager = ModelManager(loader=loader, default="x", clock=clock)
    for _ in range(3):  # the first fails; the next two within the pause fail at once
        with pytest.raises(LoadFailed):
            manager.get()
    assert calls == ["x"]
    clock.now += RETRY_FIRST_S + 0.1
    with pytest.raises(LoadFailed):
        manager.get()  # tried again, failed again: now the pause doubles
    assert len(calls) == 2
    clock.now += RETRY_FIRST_S + 0.1
    with pytest.raises(LoadFailed):
        manager.get()
    assert len(calls) == 2
    clock.now += RETRY_FIRST_S
    assert manager.get() is tiny and len(calls) == 3 and manager.error() is None


def test_a_refused_model_is_never_loaded_and_its_reason_is_shown(tiny):
    calls = []

    def policy(name):
        if name != "ok":
            raise ModelRefused(f"{name} is too large for this server")

    manager = ModelManager(loader=lambda n: calls.append(n) or tiny, default="ok", policy=policy)
    with pytest.raises(LoadFailed, match="^huge is too large for this server$"):
        manager.get("huge")
    assert calls == [] and manager.get("ok") is tiny


def test_waiting_for_another_load_gives_up_after_the_timeout(tiny):
    release = threading.Event()

    def slow(name):
        release.wait(30)
        return tiny

    manager = ModelManager(loader=slow, default="a")
    manager.start()
    time.sleep(0.2)  # the background load holds the load lock
    t0 = time.monotonic()
    with pytest.raises(ModelBusyError, match="still loading"):
        manager.get("b", timeout=0.3)
    assert time.monotonic() - t0 < 5  # refused early, not after the 30 s load
    release.set()
    manager.join(10)
    assert manager.get("a", timeout=0.3) is tiny


def test_each_model_gets_one_scheduler_sized_by_memory_and_the_cap(tiny):
    manager = ModelManager(loader=lambda n: tiny, default="a", batching=Batching(max_rows=6))
    try:
        lm, scheduler = manager.serve("a")
        assert lm is tiny and scheduler is not None and scheduler.max_rows == 6
        assert manager.serve("a")[1] is scheduler and manager.is_serving(scheduler)
        small = Batching(max_rows=64, memory_bytes=1, max_waiting=3).scheduler(tiny)
        assert small.max_rows == 4 and small.max_waiting == 3  # one whole request at least
        small.close()
    finally:
        manager.close()
    assert not scheduler._thread.is_alive()
    assert ModelManager(loader=lambda n: tiny).serve("a") == (tiny, None)  # ZeroGPU: direct


def test_an_evicted_model_is_freed_with_its_scheduler():
    manager = ModelManager(
        loader=lambda name: make_tiny_lm("llama"), default="a", capacity=2, batching=Batching()
    )
    try:
        manager.get("a")
        lm_b, scheduler_b = manager.serve("b")
        model_b, lm_ref = weakref.ref(lm_b.model), weakref.ref(lm_b)
        thread_b = scheduler_b._thread
        del lm_b, scheduler_b
        manager.get("c")  # evicts b
        assert not thread_b.is_alive()  # its scheduler was closed
        gc.collect()
        assert lm_ref() is None and model_b() is None  # nothing keeps it in memory
        assert manager.loaded("a") is not None and manager.loaded("c") is not None
    finally:
        manager.close()


def test_the_hubs_reason_is_shown_in_one_line_without_the_exceptions_text(caplog):
    import httpx2
    from huggingface_hub import errors as hf

    response = httpx2.Response(401, request=httpx2.Request("HEAD", "https://hub/srv/x"))
    gated = hf.GatedRepoError("401 /srv/secret", response=response)

    def loader(name):
        if name == "gated/model":
            raise OSError("You are trying to access /srv/secret") from gated
        raise OSError("/srv/secret") from httpx2.ConnectError("no DNS for /srv/secret")

    manager = ModelManager(loader=loader, default="x")
    for name, says in [
        ("gated/model", "gated/model is a gated model: accept its licence on "),
        ("some/model", "cannot reach the Hugging Face hub (https://huggingface.co) to download"),
    ]:
        with caplog.at_level(logging.WARNING, logger="sara_lab"), pytest.raises(LoadFailed) as e:
            manager.get(name)
        assert str(e.value).startswith(says) and "/srv/secret" not in str(e.value)
        assert "\n" not in str(e.value) and manager.error(name) == str(e.value)
    assert "HF_TOKEN" in manager.error("gated/model")
    assert "https://huggingface.co/gated/model" in manager.error("gated/model")


def test_a_model_too_large_unloads_the_others_then_loads_or_says_why(tiny):
    """Switching to a big model: the models held besides the default make room first; what
    still cannot fit is refused with the loader's own line, and nothing half-loaded is kept."""
    from sara_core.models.errors import ModelTooLargeError

    held: set[str] = set()

    def loader(name):
        if name.startswith("big") and len(held) > 1:  # fits only beside the default
            raise ModelTooLargeError(f"{name} does not fit: it needs 9.9 GB")
        if name == "huge":
            raise ModelTooLargeError("huge does not fit: it needs 99.0 GB")
        held.add(name)
        return make_tiny_lm("llama")

    manager = ModelManager(loader=loader, default="a", capacity=3)
    manager._free = lambda victims: [held.discard(v[0]) for v in victims]  # type: ignore[method-assign]
    manager.get("a")
    manager.get("b")
    assert manager.get("big") is not None
    assert manager.loaded("b") is None and manager.loaded("a") is not None
    with pytest.raises(LoadFailed, match="^huge does not fit: it needs 99.0 GB$"):
        manager.get("huge")
    assert manager.loaded("huge") is None and manager.error("huge").startswith("huge does not")
