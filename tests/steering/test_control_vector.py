"""ActAdd as a llama.cpp control vector: the vectors, the file read back with the ``gguf``
package, and llama.cpp's placement (direction N added to block N's output) reproduced in torch."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from sara_core.cli import main
from sara_core.models.blocks import get_blocks
from sara_core.prompts import encode_prompt
from sara_core.steering.actadd import ActAddSteering
from sara_core.steering.control_vector import (
    actadd_directions,
    block_of,
    llama_index,
    model_hint,
    read_control_vector,
    write_control_vector,
)
from sara_core.steering.prepare import prepare_actadd

pytestmark = pytest.mark.usefixtures("one_torch_thread")

A, R = "I am happy and hopeful.", "I am sad and hopeless."


def test_the_vectors_are_actadds_every_position_vectors(tiny_lm):
    got = actadd_directions(tiny_lm, A, R, [3, 2], coeff=5.0)
    assert list(got) == [2, 3]
    for block, vector in got.items():
        ref = prepare_actadd(tiny_lm, A, R, block, 5.0, "every-position")
        assert vector.shape == (64,) and vector.dtype == torch.float32
        assert torch.equal(vector, ref.tensor.mean(dim=0))


def test_the_file_reads_back_with_the_layers_and_sizes_it_claims(tiny_lm, tmp_path):
    vectors = actadd_directions(tiny_lm, A, R, [2, 3])
    path = write_control_vector(tmp_path / "cv.gguf", vectors, model_hint(tiny_lm), {"coeff": 4.0})
    reader = gguf.GGUFReader(str(path))
    assert reader.get_field("general.architecture").contents() == "controlvector"
    assert reader.get_field("controlvector.model_hint").contents() == "llama"
    assert reader.get_field("controlvector.layer_count").contents() == 2
    tensors = {t.name: t for t in reader.tensors}
    assert set(tensors) == {"direction.1", "direction.2"}  # our blocks 2 and 3
    for name, t in tensors.items():
        assert t.tensor_type == gguf.GGMLQuantizationType.F32 and t.n_elements == 64
        assert list(t.shape) == [64]
        block = block_of(int(name.split(".")[1]))
        np.testing.assert_array_equal(np.asarray(t.data), vectors[block].numpy())
    back = read_control_vector(path)
    assert back.layer_count == 2 and set(back.blocks()) == {2, 3} and back.meta["coeff"] == 4.0
    assert not list(tmp_path.glob("*.tmp"))


def test_llamacpps_placement_of_direction_n_is_our_block_n_plus_1(tiny_lm, tmp_path):
    """llama.cpp adds direction.N to the output of block N (src/models/llama.cpp, build_cvec):
    done here with a forward hook, it must equal our every-position ActAdd at block N + 1."""
    vectors = actadd_directions(tiny_lm, A, R, [2], coeff=8.0)
    cv = read_control_vector(write_control_vector(tmp_path / "cv.gguf", vectors, "llama"))
    ((n, direction),) = cv.directions.items()
    ids = encode_prompt(tiny_lm, "Should they report them?")
    model = tiny_lm.model

    def add_to_output(_module, _args, output):
        vec = torch.from_numpy(direction)
        return (output[0] + vec, *output[1:]) if isinstance(output, tuple) else output + vec

    with torch.no_grad():
        plain = model(input_ids=ids).logits
        handle = get_blocks(model)[n].register_forward_hook(add_to_output)
        try:
            theirs = model(input_ids=ids).logits
        finally:
            handle.remove()
        diff = prepare_actadd(tiny_lm, A, R, block_of(n), 8.0, "every-position").diff
        with ActAddSteering(diff, block_of(n), 8.0, "every-position").hook(model):
            ours = model(input_ids=ids).logits
    assert not torch.allclose(plain, ours, atol=1e-3)  # it steers
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
    assert llama_index(block_of(n)) == n


def test_blocks_llamacpp_cannot_steer_are_refused(tiny_lm, tmp_path):
    with pytest.raises(ValueError, match="blocks 2..3 can be exported"):
        actadd_directions(tiny_lm, A, R, [1])


def test_the_command_writes_the_requested_blocks(tiny_lm, tmp_path, capsys):
    folder = tmp_path / "tiny"
    tiny_lm.model.save_pretrained(folder)
    tiny_lm.tokenizer.save_pretrained(folder)
    out = tmp_path / "formal.gguf"
    argv = ["control-vector", "--stance", "formal", "--model", str(folder), "--out", str(out)]
    assert main([*argv, "--layers", "all"]) == 0  # 'all' leaves out blocks 0 and 1
    assert set(read_control_vector(out).blocks()) == {2, 3}
    assert main([*argv, "--layers", "1", "3"]) == 2
    assert "cannot be a llama.cpp control vector" in capsys.readouterr().err
    assert main([*argv[:-1], str(tmp_path / "x.bin")]) == 2


@pytest.mark.parametrize(
    ("arch", "hint"), [("qwen2", "qwen2"), ("gemma3", "gemma3"), ("gemma2", "gemma2")]
)
def test_the_model_hint_is_llama_cpps_architecture_name(arch, hint):
    """llama.cpp names Gemma 3 ``gemma3`` where transformers says ``gemma3_text``."""
    from conftest import make_tiny_lm

    assert model_hint(make_tiny_lm(arch)) == hint
