"""What int8 costs in quality, against float32 on the same model: ``kl_to_float32`` and
``greedy_agreement``.

- ``kl_to_float32``: the mean over the positions of the bundled text (presets/quality.yaml) of
  KL(float32's next-token distribution || int8's), in nats.
- ``greedy_agreement``: float32 answers each bundled prompt greedily (:data:`GREEDY_TOKENS`
  tokens); int8 reads the same tokens (teacher forcing), and the figure is the share of
  positions where its own greedy choice is float32's token. Teacher forcing counts each
  disagreement once, where a free run would count everything after a first one.

The float32 reference runs in a child process (``python -m sara_core.bench.quality``), so the
float32 model is never in memory beside the int8 one. The same child, run once in each dtype,
also times the one-row decode of the prompts and takes the peak memory after it: the same work
in two fresh processes, so ``int8_decode_speedup`` and ``int8_peak_ratio`` compare like with
like (docs/benchmark.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sara_core.bench.report import peak_rss_mb

GREEDY_TOKENS = 24
"""Tokens float32 writes for each prompt of the greedy agreement."""


def quality_inputs() -> tuple[str, list[str]]:
    """The bundled text and prompts (presets/quality.yaml)."""
    from sara_core.presets.files import read_file, resolve

    data = read_file(resolve(None, "quality.yaml")).data
    return str(data["text"]), [str(p) for p in data["prompts"]]


def _log_probs(lm: Any, ids: list[int]) -> torch.Tensor:
    """Log-probabilities of every next token after each position of ``ids``: (len, vocab)."""
    with torch.no_grad():
        logits = lm.model(torch.tensor([ids])).logits[0].float()
    return F.log_softmax(logits, dim=-1)


def reference(lm: Any, new_tokens: int = GREEDY_TOKENS) -> dict[str, Any]:
    """float32's side: the text's token ids and log-probabilities, and each prompt's ids and
    greedy continuation; plus one-row decode seconds per step and the peak memory (MB) then."""
    from sara_core.config import GenerationSettings
    from sara_core.engine.compare import generate
    from sara_core.prompts import encode_prompt

    text, prompts = quality_inputs()
    ids = lm.tokenizer(text)["input_ids"]
    settings = GenerationSettings(max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    greedy, steps = [], []
    for prompt in prompts:
        prompt_ids = encode_prompt(lm, prompt)
        out = generate(lm, prompt_ids, settings)
        end = time.perf_counter()
        if out.first_token_at is not None:
            steps.append((end - out.first_token_at) / max(1, len(out.tokens[0]) - 1))
        greedy.append((prompt_ids[0].tolist(), out.tokens[0]))
    return {
        "step_s": sorted(steps)[len(steps) // 2],
        "peak_rss_mb": peak_rss_mb(),  # a decode's peak, before the text's logits
        "text_ids": ids,
        "log_probs": _log_probs(lm, ids),
        "greedy": greedy,
    }


def compare_to(lm: Any, ref: dict[str, Any]) -> dict[str, float]:
    """``kl_to_float32`` and ``greedy_agreement`` of ``lm`` against float32's ``ref``."""
    mine = _log_probs(lm, ref["text_ids"])
    theirs = ref["log_probs"]
    kl = (theirs.exp() * (theirs - mine)).sum(-1).mean()
    agree = total = 0
    for prompt_ids, tokens in ref["greedy"]:
        if not tokens:
            continue
        picks = _log_probs(lm, prompt_ids + tokens)[len(prompt_ids) - 1 : -1].argmax(-1)
        agree += int((picks == torch.tensor(tokens)).sum())
        total += len(tokens)
    return {"kl_to_float32": float(kl), "greedy_agreement": agree / max(1, total)}


def reference_child(
    model: str | None, dtype: str = "float32", memory_mb: int | None = None
) -> dict[str, Any]:
    """:func:`reference` of ``model`` in ``dtype``, in a fresh process."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    if memory_mb is not None:
        env["SARA_MEMORY_MB"] = str(memory_mb)
    with tempfile.TemporaryDirectory(prefix="sara-quality-") as tmp:
        out = Path(tmp) / "reference.pt"
        proc = subprocess.run(
            [sys.executable, "-m", "sara_core.bench.quality", model or "", dtype, str(out)],
            env=env,
            capture_output=True,
            text=True,
            cwd=root,
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"the {dtype} reference failed: {tail[0]}")
        ref: dict[str, Any] = torch.load(out, weights_only=True)
    ref.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    return ref


def int8_figures(lm: Any, model: str | None, memory_mb: int | None) -> dict[str, Any]:
    """The bench's int8 figures for ``lm`` (loaded in int8 from ``model``): quality against a
    float32 child, speed and peak memory of a float32 child against an int8 one."""
    f32 = reference_child(model, "float32", memory_mb)
    i8 = reference_child(model, "int8", memory_mb)
    return {
        **compare_to(lm, f32),
        "int8_decode_speedup": f32["step_s"] / i8["step_s"],
        "int8_peak_ratio": i8["peak_rss_mb"] / f32["peak_rss_mb"],
        "children": {
            d: {"step_s": r["step_s"], "peak_rss_mb": r["peak_rss_mb"]}
            for d, r in (("float32", f32), ("int8", i8))
        },
    }


def _main(model: str, dtype: str, out: str) -> None:
    from sara_core.models.loading import load_model

    memory_mb = os.environ.get("SARA_MEMORY_MB")
    lm = load_model(model or None, dtype=dtype, memory_mb=int(memory_mb) if memory_mb else None)
    ref = reference(lm)
    torch.save({k: ref[k] for k in ("text_ids", "log_probs", "greedy")}, out)
    print(json.dumps({"step_s": ref["step_s"], "peak_rss_mb": ref["peak_rss_mb"]}))


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2], sys.argv[3])
