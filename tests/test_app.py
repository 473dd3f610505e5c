"""The Gradio app (app.py).

Part 1 calls the handlers directly on a tiny random model (fast). Part 2 (e2e) starts the real
app on the embedded model and talks to it with gradio_client, as an API user would.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import gradio as gr
import httpx
import pytest
import torch
from conftest import make_tiny_lm

import app as lab_app
from sara_core.models import EMBEDDED_ID, ModelLoadError
from sara_core.steering_io import load_steering

pytestmark = [
    # pandas 3 deprecations raised inside gradio's own queue code, not ours
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PROMPT = "Should they report them to the authorities or should they protect them?"
ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."


# ------------------------------------------------------------------------------------------------
# Part 1: handlers on a tiny model


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


def make_lab(tiny, public: bool = False, loader=None) -> lab_app.Lab:
    manager = lab_app.ModelManager(loader=loader or (lambda name: tiny), default="tiny")
    return lab_app.Lab(manager, lab_app.Limits.from_env(public))


@pytest.fixture
def lab(tiny):
    return make_lab(tiny)


def run(lab: lab_app.Lab, **kw):
    """Drain the compare generator; return every yielded tuple."""
    args = {
        "dilemma": PROMPT,
        "attract": ATTRACT,
        "repel": REPEL,
        "layer": 2,
        "max_new_tokens": 6,
        **kw,
    }
    return list(lab.compare(**args))


BAD_INPUTS = [
    ({"dilemma": ""}, "the dilemma is empty"),
    ({"dilemma": " \n\t "}, "the dilemma is empty"),
    ({"attract": "   "}, "the attract prompt is empty"),
    ({"repel": None}, "the repel prompt is empty"),
    ({"dilemma": 42}, "must be text"),
    ({"dilemma": "x" * (lab_app.MAX_TEXT_CHARS + 1)}, "too long"),
    ({"dilemma": "word " * 700}, "too long: .* tokens, the limit is 512"),
    ({"repel": ATTRACT}, "attract and repel are the same text"),
    ({"repel": "  " + ATTRACT.upper() + " "}, "attract and repel are the same text"),
    ({"layer": 4}, "layer=4 is out of range"),
    ({"layer": -2}, "layer=-2 is out of range"),
    ({"layer": 1.5}, "layer must be a whole number"),
    ({"layer": "abc"}, "layer must be a whole number"),
    ({"layer": True}, "layer must be a whole number"),
    ({"layer": float("nan")}, "layer must be a whole number"),
    ({"k": -1}, "k=-1 is out of range"),
    ({"k": 500}, "k=500 is too large"),
    ({"sara_coeff": float("nan")}, "SARA coefficient must be a finite number"),
    ({"sara_coeff": float("inf")}, "SARA coefficient must be a finite number"),
    ({"actadd_coeff": -float("inf")}, "ActAdd coefficient must be a finite number"),
    ({"actadd_coeff": 1e30}, "ActAdd coefficient=1e\\+30 is out of range"),
    ({"sara_coeff": "lots"}, "SARA coefficient must be a number"),
    ({"scope": "everywhere"}, "scope must be one of prompt, every-step"),
    ({"max_new_tokens": 0}, "max_new_tokens=0 is out of range"),
    ({"max_new_tokens": 10_000}, "max_new_tokens=10000 is out of range"),
    ({"do_sample": "maybe"}, "do_sample must be true or false"),
    ({"do_sample": True, "temperature": 0}, "temperature=0 is out of range"),
    ({"do_sample": True, "top_p": 2}, "top_p=2 is out of range"),
    ({"seed": -5}, "seed=-5 is out of range"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_INPUTS)
def test_handler_refuses_bad_input_with_a_clear_error(lab, tiny, bad, message):
    with pytest.raises(gr.Error, match=message):
        run(lab, **bad)
    assert all(len(b._forward_pre_hooks) == 0 for b in tiny.model.model.layers)


def test_handler_streams_then_returns_three_answers_and_a_record(lab):
    outputs = run(lab)
    assert outputs[0][3].startswith("Preparing")
    *answers, status, record = outputs[-1]
    assert all(isinstance(a, str) for a in answers)
    assert status.startswith("**Done in")
    assert isinstance(record, lab_app.RunRecord)
    assert record.answers == tuple(answers)
    assert record.settings["layer"] == 2 and record.analysis is not None
    assert record.analysis.scores.device.type == "cpu"
    # streamed partial answers only grow
    originals = [o[0] for o in outputs[1:-1] if isinstance(o[0], str)]
    assert all(b.startswith(a) or not a for a, b in zip(originals, originals[1:], strict=False))


def test_default_layer_and_auto_k_through_sentinels(lab, tiny):
    *_, record = run(lab, layer=-1, k=0)[-1]
    assert record.settings["layer"] == tiny.n_layers // 2
    assert record.settings["k"] is None and record.settings["k_used"] >= 1


def test_numbers_sent_as_text_or_floats_are_accepted(lab):
    *_, record = run(lab, layer="2", max_new_tokens=4.0, k="3", sara_coeff="0.5")[-1]
    assert record.settings["layer"] == 2 and record.settings["k_used"] == 3
    assert record.settings["sara_coeff"] == 0.5


def test_greedy_answers_repeat_exactly(lab):
    first = run(lab)[-1][:3]
    assert run(lab)[-1][:3] == first


def test_public_mode_caps_tokens_and_models(tiny):
    lab = make_lab(tiny, public=True)
    assert lab.limits.max_new_tokens == 256
    with pytest.raises(gr.Error, match="between 1 and 256 in this app \\(public demo\\)"):
        run(lab, max_new_tokens=300)
    with pytest.raises(gr.Error, match="only serves these models"):
        lab.switch_model("someone/huge-model", "", "tiny")
    with pytest.raises(gr.Error, match="at most 2 layers"):
        big = lab_app.Lab(lab.models, lab_app.Limits(public=True, sweep_answer_layers=2))
        big.sweep(PROMPT, ATTRACT, REPEL, answers=True, max_new_tokens=4, stride=1)


def test_analysis_renders_figures_table_and_a_loadable_steering_file(lab, tiny):
    record = run(lab)[-1][-1]
    heat, table, sim, summary, download = lab.analysis(record)
    assert heat.axes and sim.axes
    assert table and table[0][0] in ("▲ boosted", "▼ suppressed") and len(table[0]) == 6
    assert "boosted" in summary and "block **2**" in summary
    path = Path(download["value"])
    assert path.is_file() and path.suffix == ".safetensors"
    saved = load_steering(path, hidden_size=tiny.hidden_size, n_layers=tiny.n_layers)
    assert saved.layer == 2 and saved.sara is not None and saved.actadd is not None
    assert saved.meta["attract"] == ATTRACT and saved.meta["prompt"] == PROMPT
    assert lab.analysis(None) == (gr.skip(),) * 5


def test_uploaded_steering_reproduces_the_run_it_came_from(lab, tiny):
    record = run(lab, layer=1)[-1][-1]
    path = lab.save_record(record)
    saved, note, attract, repel, layer, sara_c, actadd_c = lab.upload_steering(str(path), "tiny")
    assert "block 1" in note and attract == ATTRACT and repel == REPEL
    assert layer["value"] == 1 and sara_c == 1.0 and actadd_c == 4.0
    # the layer is fixed by the file: asking for another block is refused, as in the library
    with pytest.raises(gr.Error, match="differs from the prepared steering's block 1"):
        run(lab, layer=3, uploaded=saved)
    again = run(lab, layer=1, uploaded=saved)[-1]
    assert again[:3] == record.answers
    assert again[-1].extra["uploaded"] is True and again[-1].settings["layer"] == 1


def test_half_a_steering_file_is_completed_from_the_text(lab, tiny, tmp_path):
    from sara_core.steering_io import save_steering

    record = run(lab, layer=1)[-1][-1]
    path = save_steering(
        tmp_path / "sara_only.safetensors",
        sara=record.sara,
        model="tiny",
        attract=ATTRACT,
        repel=REPEL,
    )
    saved = lab.upload_steering(str(path), "tiny")[0]
    assert saved.actadd is None
    assert run(lab, layer=1, uploaded=saved)[-1][:3] == record.answers


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("junk.safetensors", b"not a safetensors file at all", "not a valid steering file"),
        ("empty.safetensors", b"", "not a valid steering file"),
        ("steering.txt", b"hello", "upload a .safetensors file"),
    ],
)
def test_malformed_steering_uploads_are_refused(lab, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(gr.Error, match=message) as info:
        lab.upload_steering(str(path), "tiny")
    assert str(tmp_path) not in str(info.value)  # names the file, not the server's folders


def test_steering_made_for_another_model_is_refused(lab, tmp_path):
    from sara_core.actadd import ActAddSteering
    from sara_core.steering_io import save_steering

    path = save_steering(
        tmp_path / "wide.safetensors",
        actadd=ActAddSteering(torch.ones(3, 128), layer=1),
        model="wide",
    )
    with pytest.raises(gr.Error, match="hidden size 128"):
        lab.upload_steering(str(path), "tiny")


def test_preset_upload_adds_stances_for_the_session(lab, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "stances:\n  - name: frugal\n    attract: Spend as little as you can.\n"
        "    repel: Spend as much as you like.\n"
        "dilemmas:\n  - title: Borrowed car\n    text: You scratched a friend's car. Tell her?\n"
    )
    stances, dilemmas, stance_upd, dilemma_upd, note = lab.upload_presets(
        str(path), lab.stances, lab.dilemmas
    )
    assert stances[-1].name == "frugal" and dilemmas[-1].id == "borrowed_car"
    assert ("frugal  ·  custom", "frugal") in stance_upd["choices"]
    assert stance_upd["value"] == "frugal"
    assert "mine.yaml" in note and "frugal" in note
    assert len(lab.stances) < len(stances)  # the shared bundled list is untouched
    attract, repel, *_ = lab.pick_stance("frugal", stances)
    assert attract == "Spend as little as you can."


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yaml", "stances: [\n", "bad.yaml"),
        ("same.yaml", "stances:\n  - {name: x, attract: A b, repel: a B}\n", "same text"),
        ("missing.json", '{"stances": [{"name": "x", "attract": "a"}]}', "repel"),
        ("weird.toml", "[[nothing]]\nx = 1\n", "weird.toml"),
    ],
)
def test_malformed_preset_files_are_refused(lab, tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(gr.Error, match=message) as info:
        lab.upload_presets(str(path), lab.stances, lab.dilemmas)
    assert str(tmp_path) not in str(info.value)


def test_stance_dilemma_and_swap_helpers(lab):
    attract, repel, md, uploaded, note = lab.pick_stance("kantian", lab.stances)
    assert attract.startswith("Only moral duties") and "kantian" in md and uploaded is None
    text = lab.pick_dilemma("parent_criminal", True, lab.dilemmas)
    assert text.startswith(lab_app.PAPER_PREFIX) and text.endswith("protect them?")
    assert lab.pick_dilemma("parent_criminal", False, lab.dilemmas).startswith("An individual")
    assert lab.swap("a", "r")[:3] == ("r", "a", None)
    assert lab.default_dilemma().startswith(lab_app.PAPER_PREFIX)
    assert lab.default_stance().name == "utilitarian"


def test_switching_to_an_unreachable_model_keeps_the_current_one(tiny):
    def loader(name):
        if name == "tiny":
            return tiny
        raise ModelLoadError(f"could not load model {name!r}: offline")

    lab = make_lab(tiny, loader=loader)
    with pytest.raises(gr.Error, match="offline. Still using tiny"):
        lab.switch_model(None, "nobody/nothing", "tiny")
    assert lab.models.get("tiny") is tiny
    state, md, layer, info, uploaded, note = lab.switch_model(None, "tiny", "tiny")
    assert state == "tiny" and "4 blocks" in md and layer["maximum"] == 3


def test_model_manager_loads_once_under_concurrency_and_keeps_the_default(tiny):
    calls = []

    def loader(name):
        calls.append(name)
        time.sleep(0.05)
        return tiny

    manager = lab_app.ModelManager(loader=loader, default="a", capacity=2)
    threads = [threading.Thread(target=manager.get, args=("a",)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["a"]
    manager.get("b")
    manager.get("c")  # evicts b, never the default
    assert manager.loaded("a") is tiny and manager.loaded("b") is None
    assert lab_app._canonical("default") == lab_app._canonical(" ") == EMBEDDED_ID


def test_model_manager_turns_any_failure_into_a_model_load_error(tiny):
    manager = lab_app.ModelManager(loader=lambda name: 1 / 0, default="x")
    with pytest.raises(ModelLoadError, match="ZeroDivisionError"):
        manager.get()
    assert "ZeroDivisionError" in manager.error()
    manager.start()
    manager._thread.join(5)  # the background load fails quietly and records the error
    assert lab_app.model_markdown(None, manager.error(), "x").startswith("**Model x could not")


def test_page_load_sizes_the_layer_slider(lab, tiny):
    md, layer, button, info = lab.page_load(None)
    assert "4 blocks" in md and "hidden size 64" in md
    assert layer["maximum"] == 3 and layer["value"] == 2 and layer["minimum"] == 0
    assert button["interactive"] is True and info["layers"] == 4


def test_sweep_handler_returns_plot_table_and_best_layer(lab):
    fig, table, summary, best = lab.sweep(PROMPT, ATTRACT, REPEL, k=0, stride=1)
    assert fig.axes and len(table) == 4 and list(table.columns)[0] == "block"
    assert f"block {best}" in summary
    fig, table, summary, best = lab.sweep(
        PROMPT, ATTRACT, REPEL, answers=True, max_new_tokens=3, stride=2
    )
    assert len(table) == 2 and list(table.columns)[-1] == "ActAdd answer"
    for bad, message in [
        ({"dilemma": ""}, "empty"),
        ({"stride": 0}, "stride=0"),
        ({"max_new_tokens": 1000}, "for a sweep"),
        ({"k": 99}, "k=99"),
    ]:
        args = {"dilemma": PROMPT, "attract": ATTRACT, "repel": REPEL, **bad}
        with pytest.raises(gr.Error, match=message):
            lab.sweep(**args)


def test_environment_defaults_are_offline_and_private(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "SARA_ONLINE", "SARA_MODEL", "SPACE_ID"):
        monkeypatch.delenv(var, raising=False)
    lab_app.configure_environment()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1"
    for var, value in (("SARA_ONLINE", "1"), ("SARA_MODEL", "Qwen/Qwen2.5-0.5B-Instruct")):
        monkeypatch.delenv("HF_HUB_OFFLINE")
        monkeypatch.setenv(var, value)
        lab_app.configure_environment()
        assert "HF_HUB_OFFLINE" not in os.environ
        monkeypatch.delenv(var)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not lab_app._is_hub_id("embedded") and lab_app._is_hub_id("org/model")


def test_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("SARA_PUBLIC", "1")
    monkeypatch.setenv("SARA_ALLOWED_MODELS", "a/b, c/d")
    monkeypatch.delenv("SARA_MODEL", raising=False)
    limits = lab_app.Limits.from_env()
    assert limits.public and limits.max_new_tokens == 256 and limits.sweep_max_new_tokens == 32
    assert limits.allowlist == (EMBEDDED_ID, "a/b", "c/d")
    monkeypatch.setenv("SARA_PUBLIC", "0")
    assert lab_app.Limits.from_env().max_new_tokens == 512


def test_the_api_exposes_compare_with_the_documented_parameters(tiny):
    demo = lab_app.build_app(lab=make_lab(tiny), start_loading=False)
    info = demo.get_api_info()["named_endpoints"]
    assert set(info) == {"/compare", "/sweep"}  # every other event is private
    params = [p["parameter_name"] for p in info["/compare"]["parameters"]]
    assert params == [
        "dilemma",
        "attract",
        "repel",
        "layer",
        "max_new_tokens",
        "k",
        "sara_coeff",
        "actadd_coeff",
        "scope",
        "do_sample",
        "temperature",
        "top_p",
        "seed",
    ]
    assert all(p["parameter_has_default"] for p in info["/compare"]["parameters"][3:])
    assert info["/compare"]["parameters"][3]["parameter_default"] == -1  # the model's default
    returns = [r["label"] for r in info["/compare"]["returns"]]
    assert returns[:3] == ["Original", "SARA", "ActAdd"]


def test_stop_button_ends_the_run_and_the_next_one_works(lab):
    class Request:
        session_hash = "visitor-1"

    outputs = []
    gen = lab.compare(PROMPT, ATTRACT, REPEL, 2, 200, request=Request())
    for item in gen:
        outputs.append(item)
        if isinstance(item[0], str) and item[0]:
            lab.stop(Request())
    assert outputs[-1][3].startswith("**Stopped.**") and outputs[-1][4] is None
    assert len(outputs[-1][0]) > 0
    assert not lab._stops  # cleaned up
    assert run(lab)[-1][3].startswith("**Done in")


def test_the_page_says_the_model_is_loading_until_it_is_ready(tiny):
    release = threading.Event()

    def slow(name):
        release.wait(30)
        return tiny

    lab = make_lab(tiny, loader=slow)
    demo = lab_app.build_app(lab=lab)
    comps = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    assert comps["model-status"].value.startswith("**Loading model")
    assert comps["compare-btn"].interactive is False
    assert comps["compare-btn"].value == "Loading the model…"
    release.set()
    md, layer, button, _ = lab.page_load(None)  # what the page shows once it is loaded
    assert "4 blocks" in md and button["interactive"] is True


def test_initial_model_falls_back_to_the_hub_twin_only_when_online(monkeypatch):
    monkeypatch.delenv("SARA_MODEL", raising=False)
    monkeypatch.setattr(lab_app.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert lab_app.initial_model() == "HuggingFaceTB/SmolLM2-135M-Instruct"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert lab_app.initial_model() == EMBEDDED_ID
    monkeypatch.setenv("SARA_MODEL", "/some/folder")
    assert lab_app.initial_model() == "/some/folder"


def test_public_mode_page_hides_free_model_names_and_caps_the_sliders(tiny):
    demo = lab_app.build_app(lab=make_lab(tiny, public=True), start_loading=False)
    by_label = {getattr(b, "label", None): b for b in demo.blocks.values()}
    assert by_label["…or any hub id or local folder"].visible is False
    assert by_label["Max new tokens (up to 256)"].maximum == 256
    assert by_label["New tokens per answer"].maximum == 32
    assert by_label["Model"].choices[0][1] == EMBEDDED_ID


# ------------------------------------------------------------------------------------------------
# Part 2: the live app on the embedded model, through gradio_client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(lm) -> tuple[gr.Blocks, str]:
    """Start the real app on ``lm`` (the embedded model) on a free local port."""

    def loader(name):
        if lab_app._canonical(name) == EMBEDDED_ID:
            return lm
        return lab_app.load_model(name)

    lab = lab_app.Lab(lab_app.ModelManager(loader=loader), lab_app.Limits.from_env(False))
    demo = lab_app.build_app(lab=lab)
    _, url, _ = lab_app.launch(demo, server_port=free_port(), prevent_thread_lock=True, quiet=True)
    return demo, url


@pytest.fixture(scope="module")
def live(embedded_lm):
    from gradio_client import Client

    demo, url = serve(embedded_lm)
    client = Client(url, verbose=False)
    yield demo, url, client
    demo.close()


def call(client, **kw):
    args = {
        "dilemma": PROMPT,
        "attract": ATTRACT,
        "repel": REPEL,
        "layer": 15,
        "max_new_tokens": 16,
        **kw,
    }
    return client.predict(**args, api_name="/compare")


def record_timing(name: str, values: dict) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "app_timings.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[name] = values
    path.write_text(json.dumps(data, indent=2))


@pytest.mark.e2e
def test_compare_endpoint_streams_three_answers(live):
    _, _, client = live
    start = time.perf_counter()
    job = client.submit(PROMPT, ATTRACT, REPEL, 15, 24, api_name="/compare")
    first = None
    while not job.done():
        outputs = job.outputs()
        if first is None and outputs and outputs[-1][0]:
            first = time.perf_counter() - start
        time.sleep(0.02)
    original, sara, actadd, status = job.result()
    total = time.perf_counter() - start
    assert original and sara and actadd
    assert status.startswith("**Done in")
    assert first is not None and first < total
    assert len(job.outputs()) > 3  # it streamed
    record_timing("api_24_tokens", {"first_token_s": first, "full_answers_s": total})


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("bad", "message"),
    [b for b in BAD_INPUTS if "nan" not in repr(b[0]) and "inf" not in repr(b[0])],
)
def test_bad_input_is_refused_and_the_app_keeps_answering(live, bad, message):
    from gradio_client.exceptions import AppError

    _, _, client = live
    if bad.get("layer") == 4:
        bad = {"layer": 30}
        message = "layer=30 is out of range"
    with pytest.raises(AppError, match=message):
        call(client, **bad)
    assert all(call(client, max_new_tokens=2)[:3])  # answered normally right after


@pytest.mark.e2e
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_sent_as_raw_json_are_refused(live, value):
    _, url, client = live
    data = (
        f'["{PROMPT}", "{ATTRACT}", "{REPEL}", 15, 4, 0, {value}, 4.0, "prompt", false, 0.8, 1, 0]'
    )
    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post(
            "/gradio_api/call/compare",
            content='{"data": ' + data + "}",
            headers={"Content-Type": "application/json"},
        ).json()["event_id"]
        stream = http.get(f"/gradio_api/call/compare/{event}").text
    assert "event: error" in stream
    assert "SARA coefficient must be a finite number" in stream
    assert all(call(client, max_new_tokens=2)[:3])


@pytest.mark.e2e
def test_concurrent_users_get_their_own_steering_and_the_lone_greedy_answers(live):
    from gradio_client import Client

    _, url, client = live
    kantian = {"attract": REPEL, "repel": ATTRACT}
    lone = {"u": call(client)[:3], "k": call(client, **kantian)[:3]}
    assert lone["u"] != lone["k"]  # the two stances steer differently
    results: dict[int, tuple] = {}

    def user(i: int) -> None:
        kw = kantian if i % 2 else {}
        results[i] = call(Client(url, verbose=False), **kw)[:3]

    threads = [threading.Thread(target=user, args=(i,)) for i in range(4)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(results) == 4
    for i, answers in results.items():
        assert answers == lone["k" if i % 2 else "u"]
    record_timing("four_concurrent_16_tokens", {"all_answered_s": time.perf_counter() - start})


@pytest.mark.e2e
def test_sweep_endpoint_and_queue_limits(live):
    demo, _, client = live
    fig, table, summary = client.predict(PROMPT, ATTRACT, REPEL, 0, False, 4, 10, api_name="/sweep")
    assert summary.startswith("Swept 3 blocks") and "rescales the prompt most" in summary
    assert table["headers"][:3] == ["block", "k", "mean |s|"]
    assert [row[0] for row in table["data"]] == [0, 10, 20]
    assert demo._queue.max_size == 16
    compare_fn = next(fn for fn in demo.fns.values() if fn.api_name == "compare")
    assert compare_fn.concurrency_limit == 1


@pytest.mark.e2e
def test_python_app_py_serves_on_the_configured_port():
    """`python app.py` (the README's demo command) honours GRADIO_SERVER_NAME/PORT."""
    import subprocess
    import sys

    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 180
        page = None
        while time.time() < deadline and proc.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert page is not None and page.status_code == 200, "app.py did not start"
        assert "SARA steering lab" in page.text
        config = httpx.get(f"http://127.0.0.1:{port}/config", timeout=10).json()
        assert config["title"] == "SARA steering lab"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
