"""Settings (sara_lab.settings): the environment, read once, and the offline defaults."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from sara_core.models.names import EMBEDDED_HUB_TWIN, EMBEDDED_ID, is_hub_id
from sara_core.validation import InputError
from sara_lab.settings import Limits, Settings, configure_environment, initial_model

ROOT = Path(__file__).resolve().parents[2]


def test_environment_defaults_are_offline_and_private():
    env: dict[str, str] = {}
    configure_environment(env)
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert env["HF_HUB_DISABLE_TELEMETRY"] == "1"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    for var, value in (
        ("SARA_ONLINE", "1"),
        ("SARA_MODEL", "Qwen/Qwen2.5-0.5B-Instruct"),
        ("SPACE_ID", "someone/space"),
    ):
        env = {var: value}
        configure_environment(env)
        assert "HF_HUB_OFFLINE" not in env
    assert not is_hub_id("embedded") and is_hub_id("org/model") and not is_hub_id(str(ROOT))
    assert not is_hub_id("random:gemma-2-2b")  # built here, from a shape: the hub stays off
    env = {"SARA_MODEL": "random:gemma-2-2b"}
    configure_environment(env)
    assert env["HF_HUB_OFFLINE"] == "1"


def test_limits_from_the_environment():
    env = {"SARA_PUBLIC": "1", "SARA_ALLOWED_MODELS": "a/b, c/d", "HF_HUB_OFFLINE": "1"}
    settings = Settings.from_env(env)
    assert settings.public and settings.max_new_tokens == 256
    assert settings.sweep_max_new_tokens == 32 and settings.sweep_answer_layers == 10
    assert settings.allowlist == (EMBEDDED_ID, "a/b", "c/d")
    assert Settings.from_env({**env, "SARA_PUBLIC": "0"}).max_new_tokens == 512
    assert Settings.from_env(env, public=False).max_new_tokens == 512


def test_where_to_listen_and_how_many_models_to_keep():
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8080", "SARA_MAX_MODELS": "3"}
    settings = Settings.from_env(env)
    assert (settings.server_name, settings.server_port, settings.max_models) == ("0.0.0.0", 8080, 3)
    assert Settings.from_env({}).server_port == 7860 and Settings.from_env({}).max_models == 2
    with pytest.raises(InputError, match="GRADIO_SERVER_PORT must be a whole number"):
        Settings.from_env({"GRADIO_SERVER_PORT": "http"})
    with pytest.raises(AttributeError):
        settings.public = True  # frozen: read once, passed down


def test_initial_model_falls_back_to_the_hub_twin_only_when_online(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert initial_model({"HF_HUB_OFFLINE": "0"}) == EMBEDDED_HUB_TWIN
    assert initial_model({"HF_HUB_OFFLINE": "1"}) == EMBEDDED_ID
    assert initial_model({"SARA_MODEL": "/some/folder"}) == "/some/folder"


def test_no_other_module_of_the_app_reads_the_environment():
    readers = []
    for path in [ROOT / "app.py", *sorted((ROOT / "sara_lab").rglob("*.py"))]:
        if path.name == "settings.py":
            continue
        if re.search(r"os\.environ|getenv\(|environ\.get", path.read_text()):
            readers.append(path.relative_to(ROOT).as_posix())
    assert readers == []


@pytest.mark.parametrize(
    ("env", "public"),
    [
        ({}, False),
        ({"SARA_PUBLIC": "1"}, True),
        ({"SPACE_ID": "teacher/sara-lab"}, True),  # a Space is public unless told otherwise
        ({"SPACE_ID": "teacher/sara-lab", "SARA_PUBLIC": ""}, True),
        ({"SPACE_ID": "teacher/sara-lab", "SARA_PUBLIC": "maybe"}, True),
        ({"SPACE_ID": "teacher/sara-lab", "SARA_PUBLIC": "0"}, False),
        ({"SPACE_ID": "teacher/sara-lab", "SARA_PUBLIC": " False "}, False),
    ],
)
def test_a_space_is_public_unless_sara_public_is_explicitly_off(env, public):
    settings = Settings.from_env({**env, "HF_HUB_OFFLINE": "1"})
    assert settings.public is public
    assert settings.max_new_tokens == (256 if public else 512)


def test_request_limits_and_resource_caps_from_the_environment():
    env = {
        "SARA_BUDGET_S": "30",
        "SARA_QUEUE_TIMEOUT_S": "2.5",
        "SARA_IDLE_TIMEOUT_S": "10",
        "SARA_LOCK_TIMEOUT_S": "5",
        "SARA_CONCURRENCY": "8",
        "SARA_BATCH_ROWS": "12",
        "SARA_BATCH_MEMORY_MB": "512",
        "SARA_MAX_DOWNLOAD_MB": "0",
        "SARA_FILE_MAX_AGE_S": "600",
        "SARA_MAX_RECORDS": "5",
        "SARA_QUEUE_SIZE": "4",
        "SARA_MAX_SESSIONS": "50",
        "SARA_BATCH_WINDOW_MS": "120",
    }
    s = Settings.from_env(env)
    assert s.limits() == Limits(30.0, 2.5, 10.0, 5.0)
    assert (s.concurrency, s.batch_rows, s.batch_memory_mb, s.max_download_mb) == (8, 12, 512, 0)
    assert (s.file_max_age_s, s.max_records, s.queue_size, s.max_sessions) == (600, 5, 4, 50)
    assert s.batch_window_ms == 120 and Settings.from_env({}).batch_window_ms == 300
    d = Settings.from_env({})
    assert (d.budget_s, d.queue_timeout_s, d.idle_timeout_s, d.lock_timeout_s) == (
        120.0,
        120.0,
        60.0,
        30.0,
    )
    for var, bad in (
        ("SARA_BUDGET_S", "nan"),
        ("SARA_QUEUE_TIMEOUT_S", "-1"),
        ("SARA_BATCH_ROWS", "2"),
    ):
        with pytest.raises(InputError, match=var):
            Settings.from_env({var: bad})
