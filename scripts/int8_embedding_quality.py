"""What the int8 embedding costs in quality: kl_to_float32 and greedy_agreement (the bench's
measures) of an int8 model with its int8 embedding, then with the float32 embedding put back,
against the float32 model, in one process. Run from the repo root, e.g.:
    .venv/bin/python scripts/int8_embedding_quality.py pypi:qwen2.5-coder-0.5b-instruct
"""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sara_core.bench.quality import compare_to, reference  # noqa: E402
from sara_core.models.loading import load_model  # noqa: E402

torch.set_num_threads(1)
name = sys.argv[1] if len(sys.argv) > 1 else "pypi:qwen2.5-coder-0.5b-instruct"
t = time.time()
f32 = load_model(name, dtype="float32")
ref = reference(f32)
embed32 = f32.model.get_input_embeddings()
lm = load_model(name, dtype="int8")
print(name, "int8, int8 embedding:", compare_to(lm, ref), flush=True)
emb8 = lm.model.get_input_embeddings()
lm.model.set_input_embeddings(embed32)
print(name, "int8, float32 embedding:", compare_to(lm, ref), flush=True)
lm.model.set_input_embeddings(emb8)
print("seconds", round(time.time() - t))
