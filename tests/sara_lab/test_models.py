"""The model cache (sara_lab.models.ModelManager)."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import make_tiny_lm

from sara_core.models import EMBEDDED_ID, ModelLoadError
from sara_lab.models import ModelManager, canonical, model_for
from sara_lab.render import model_markdown


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


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


def test_model_manager_turns_any_failure_into_a_model_load_error():
    manager = ModelManager(loader=lambda name: 1 / 0, default="x")
    with pytest.raises(ModelLoadError, match="ZeroDivisionError"):
        manager.get()
    assert "ZeroDivisionError" in manager.error()
    manager.start()
    manager.join(5)  # the background load fails quietly and records the error
    assert model_markdown(None, manager.error(), "x").startswith("**Model x could not")
