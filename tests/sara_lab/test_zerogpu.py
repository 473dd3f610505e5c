"""ZeroGPU (sara_lab.zerogpu): on where the ``spaces`` package's configuration says so, not where
the package can be imported. Three settings: no package (local), the package installed but
ZeroGPU off (every CPU or GPU Space), and ZeroGPU really on (the package's own decorator and
forked workers, in a process of its own). Tests marked ``spaces`` need the package: ``make
test-spaces`` installs it and runs tests/sara_lab with it (there they must not skip)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import make_tiny_lm
from lab_fixtures import ATTRACT, GRADIO_WARNINGS, OFFLINE, PROMPT, REPEL, run, tiny_lab

import sara_lab.handlers.compare as compare_module
from sara_lab import zerogpu
from sara_lab.handlers.compare import compare, compare_stream, stop
from sara_lab.handlers.sweep import sweep
from sara_lab.lab import make_lab
from sara_lab.settings import Settings

pytestmark = [pytest.mark.filterwarnings(w) for w in GRADIO_WARNINGS]
HAS_SPACES = importlib.util.find_spec("spaces") is not None
needs_spaces = pytest.mark.skipif(not HAS_SPACES, reason="the spaces package is not installed")
LONG = 200  # tokens the tiny model writes for the paper's prompt without meeting its EOS
STOP_TOKENS = 10  # of LONG, after Stop at the first token (a loaded machine lets a few more by)
FIELDS = {"dilemma": PROMPT, "attract": ATTRACT, "repel": REPEL, "layer": 2}


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


def stop_at_first_token(lab, session: str) -> str:
    """Run a long comparison and press Stop at its first token: the last status line."""
    outputs = []
    for item in compare(lab, {**FIELDS, "max_new_tokens": LONG}, session=session):
        outputs.append(item)
        if item[0]:
            stop(lab, session)
    return outputs[-1][3]


def stopped_tokens(status: str) -> int:
    assert status.startswith("**Stopped** after "), status
    return int(status.split("after ")[1].split()[0])


def test_without_the_package_zerogpu_is_off_and_nothing_is_wrapped():
    if HAS_SPACES:
        pytest.skip("the spaces package is installed here")
    assert zerogpu.active() is False
    assert Settings.from_env(OFFLINE).zero_gpu is False

    def f():
        return 1

    assert zerogpu.gpu(60)(f) is f


def test_on_zerogpu_the_handlers_run_directly_and_stop_by_closing_the_stream(tiny, monkeypatch):
    """What the app does differently where ZeroGPU is on, in this process (the real worker
    process is in the test below): no scheduler, and Stop closes the stream, since neither a
    scheduler nor an event of this process can reach the worker."""
    monkeypatch.setattr(compare_module, "STREAM_INTERVAL_S", 0.0)  # every step reaches the UI
    local, space = tiny_lab(tiny), tiny_lab(tiny, zero_gpu=True)
    try:
        assert local.models.batching is not None and space.models.batching is None
        assert space.models.serve("tiny")[1] is None  # no scheduler for a worker to miss
        lone = run(local, max_new_tokens=12)[-1][:3]
        assert run(space, max_new_tokens=12)[-1][:3] == lone
        assert stopped_tokens(stop_at_first_token(space, "visitor")) <= STOP_TOKENS
        assert len(space.stops) == 0
        assert run(space, max_new_tokens=12)[-1][3].startswith("**Done in")  # the next one runs
        values = {**FIELDS, "answers": True, "max_new_tokens": 32}
        outputs = []
        for item in sweep(space, values, session="visitor"):
            outputs.append(item)
            if item[2].startswith("Sweeping: step 2 "):
                space.stops.stop("visitor/sweep")
        assert outputs[-1][2].startswith("**Stopped** after ")
    finally:
        local.close()
        space.close()


@pytest.mark.spaces
@needs_spaces
def test_installed_but_off_is_a_normal_space_batching_and_stop_as_locally(tiny, monkeypatch):
    """A CPU (or dedicated GPU) Space: the package is there, ZeroGPU is not."""
    monkeypatch.setattr(compare_module, "STREAM_INTERVAL_S", 0.0)  # every step reaches the UI
    from spaces.config import Config

    assert Config.zero_gpu is False and zerogpu.active() is False
    settings = Settings.from_env({**OFFLINE, "SPACE_ID": "someone/sara"})
    assert settings.public and settings.zero_gpu is False
    assert not hasattr(compare_stream, "zerogpu")  # spaces.GPU was not applied
    assert compare_stream.__module__ == "sara_lab.handlers.compare"
    lab = make_lab(replace(settings, model="tiny", allowlist=("tiny",)), lambda name: tiny)
    try:
        assert lab.models.batching is not None and lab.models.serve("tiny")[1] is not None
        assert run(lab, max_new_tokens=6)[-1][3].startswith("**Done in")
        assert stopped_tokens(stop_at_first_token(lab, "visitor")) <= STOP_TOKENS  # the event
    finally:
        lab.close()


@pytest.mark.spaces
@needs_spaces
def test_the_decision_follows_the_packages_configuration(monkeypatch):
    from spaces.config import Config

    monkeypatch.setattr(Config, "zero_gpu", True)
    assert zerogpu.active() is True
    assert Settings.from_env(OFFLINE).zero_gpu is True
    monkeypatch.setattr(Config, "zero_gpu", False)
    assert zerogpu.active() is False


class DeviceAPI(BaseHTTPRequestHandler):
    """The ZeroGPU device API a Space talks to, reduced to what spaces 0.51.3 calls: every
    schedule is granted at once (GPU 0), allow, release and the startup report succeed."""

    calls: list[tuple[str, dict[str, list[str]]]] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        url = urlparse(self.path)
        self.calls.append((url.path, parse_qs(url.query)))
        body = b""
        if url.path == "/schedule":
            grant = {"idle": True, "nvidiaIndex": 0, "nvidiaUUID": "GPU-fake", "allowToken": "t"}
            body = json.dumps(grant).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.spaces
@needs_spaces
def test_really_on_zerogpu_the_work_runs_in_the_packages_worker_process(tmp_path):
    import spaces

    server = ThreadingHTTPServer(("127.0.0.1", 0), DeviceAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    DeviceAPI.calls = []
    cgroup = tmp_path / "cgroup"
    cgroup.write_text("0::/sara-test\n")
    root = Path(__file__).resolve().parents[2]
    site = str(Path(spaces.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), str(root / "tests"), site]),
        "SPACES_ZERO_GPU": "true",
        "SPACES_ZERO_DEVICE_API_URL": f"http://127.0.0.1:{server.server_port}",
        "ZEROGPU_PROC_SELF_CGROUP_PATH": str(cgroup),
        "HOME": str(tmp_path),  # spaces keeps its clean-up notes under ~/.zerogpu
        "HF_HUB_OFFLINE": "1",
    }
    script = Path(__file__).with_name("zerogpu_space.py")
    try:
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        server.shutdown()
    lines = [x for x in done.stdout.splitlines() if x.startswith("ZEROGPU ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-5000:]
    seen = json.loads(lines[-1].removeprefix("ZEROGPU "))
    assert seen["zero_gpu"] is True and seen["batching"] is False
    assert seen["decorated"] == [True, True, True]  # compare, sweep and tune go to the GPU
    assert seen["status"].startswith("**Done in")
    assert seen["answers"] == seen["direct_answers"] == seen["api_answers"]
    assert any(seen["answers"])
    assert stopped_tokens(seen["stopped"]) < LONG // 2
    assert seen["after_stop"].startswith("**Done in") and seen["sweep_rows"] == 4
    paths = [path for path, _ in DeviceAPI.calls]
    assert paths.count("/schedule") >= 5 and paths.count("/release") == paths.count("/schedule")
    workers = {query["pid"][0] for path, query in DeviceAPI.calls if path == "/allow"}
    assert workers and str(seen["pid"]) not in workers  # forked workers, not the app's process
