"""Steering files (sara_lab.handlers.steering_files): download, upload, reuse, refusals."""

from __future__ import annotations

import gradio as gr
import pytest
import torch
from conftest import make_tiny_lm
from lab_fixtures import ATTRACT, GRADIO_WARNINGS, REPEL, run, tiny_lab

from sara_core.steering.actadd import ActAddSteering
from sara_core.steering.saved import save_steering
from sara_lab.handlers.steering_files import forget_steering, save_record, upload_steering

pytestmark = [pytest.mark.filterwarnings(w) for w in GRADIO_WARNINGS]


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


@pytest.fixture
def lab(tiny):
    return tiny_lab(tiny)


def test_uploaded_steering_reproduces_the_run_it_came_from(lab):
    record = run(lab, layer=1, sign="canonical")[-1][-1]
    path = save_record(record)
    saved, note, attract, repel, layer, sara_c, actadd_c, sign, mode = upload_steering(
        lab, str(path), "tiny"
    )
    assert "block 1" in note and attract == ATTRACT and repel == REPEL
    assert layer["value"] == 1 and sara_c == 1.0 and actadd_c == 4.0
    assert sign == "canonical" and mode == "prefix"
    # the layer is fixed by the file: asking for another block is refused, as in the library
    with pytest.raises(gr.Error, match="differs from the prepared steering's block 1"):
        run(lab, layer=3, uploaded=saved)
    again = run(lab, layer=1, sign="canonical", uploaded=saved)[-1]
    assert again[:3] == record.answers
    assert again[-1].uploaded is True and again[-1].result.settings["layer"] == 1
    assert forget_steering()[0] is None


def test_half_a_steering_file_is_completed_from_the_text(lab, tmp_path):
    record = run(lab, layer=1)[-1][-1]
    path = save_steering(
        tmp_path / "sara_only.safetensors",
        sara=record.result.sara_steering,
        model="tiny",
        attract=ATTRACT,
        repel=REPEL,
    )
    saved = upload_steering(lab, str(path), "tiny")[0]
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
        upload_steering(lab, str(path), "tiny")
    assert str(tmp_path) not in str(info.value)  # names the file, not the server's folders


def test_steering_made_for_another_model_is_refused(lab, tmp_path):
    path = save_steering(
        tmp_path / "wide.safetensors",
        actadd=ActAddSteering(torch.ones(3, 128), layer=1),
        model="wide",
    )
    with pytest.raises(gr.Error, match="hidden size 128"):
        upload_steering(lab, str(path), "tiny")


def _hostile_steering(tmp_path, kind: str):
    """Files a stranger could upload: too big, a lying header, metadata nested 100,000 deep."""
    import struct

    from safetensors.torch import save_file

    path = tmp_path / f"{kind}.safetensors"
    if kind == "oversized":
        with path.open("wb") as fh:  # 65 MiB, mostly a hole: cheap to make, refused by its size
            fh.write(struct.pack("<Q", 2) + b"{}")
            fh.truncate(65 * 2**20)
    elif kind == "lying-header":
        path.write_bytes(struct.pack("<Q", 2**60) + b"{}")
    elif kind == "deep-metadata":
        deep = "[" * 100_000 + "]" * 100_000
        save_file({"actadd.diff": torch.ones(3, 64)}, str(path), metadata={"sara_core": deep})
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("oversized", "larger than 64 MiB"),
        ("lying-header", "header claims 1152921504606846976 bytes"),
        ("deep-metadata", "nested too deeply"),
    ],
)
def test_hostile_steering_uploads_are_refused_and_the_next_request_works(
    lab, tmp_path, kind, message
):
    path = _hostile_steering(tmp_path, kind)
    with pytest.raises(gr.Error, match=message) as info:
        upload_steering(lab, str(path), "tiny")
    assert str(tmp_path) not in str(info.value)
    assert run(lab)[-1][3].startswith("**Done in")
