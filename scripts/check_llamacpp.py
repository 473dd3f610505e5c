"""Check our llama.cpp control vectors in llama.cpp itself (a one-off check, not part of make test).

It writes ActAdd's every-position vectors for the embedded model with
``sara_core.steering.control_vector`` (the code behind ``python -m sara_core control-vector``),
reads the file back with the ``gguf`` package, and applies each direction through llama-cpp-python's
``llama_set_adapter_cvec`` on the embedded model's own GGUF file. For a prompt and a stance it
compares, at the same block, how far each side moves the log-odds of the attract text over the repel
text as the continuation (the sum of next-token log-probabilities of one minus the other): llama.cpp
with the direction, and our torch model with ActAdd in every-position mode. Then a zero vector must
move nothing, and placing the direction one layer off must fit worse than the documented mapping
(direction.N = our N + 1).

llama-cpp-python is not a dependency (it builds from source, about 20 minutes). Build it once
outside the venv and point PYTHONPATH at it:

    CMAKE_BUILD_PARALLEL_LEVEL=1 nice -n 19 .venv/bin/pip wheel --no-deps \\
        llama-cpp-python==0.3.36 -w /tmp/llamacpp-wheel
    .venv/bin/pip install --no-deps --target /tmp/llamacpp-site /tmp/llamacpp-wheel/*.whl diskcache
    PYTHONPATH=/tmp/llamacpp-site:. .venv/bin/python scripts/check_llamacpp.py

Exit code 0 when every check passes, 1 when one fails, 2 when llama_cpp is missing.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
from pathlib import Path

import numpy as np


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stance", default="optimistic")
    p.add_argument("--prompt", default="How will the exam go?")
    p.add_argument("--blocks", type=int, nargs="+", default=[5, 10, 15, 20, 25])
    p.add_argument("--coeffs", type=float, nargs="+", default=[-4.0, 4.0])
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


def main() -> int:
    args = parse_args()
    try:
        import llama_cpp
    except ImportError as exc:
        print(f"llama_cpp is not importable ({exc}): see this script's docstring", file=sys.stderr)
        return 2
    import torch

    from sara_core.engine.decoding import Continuation, score_continuations
    from sara_core.models.embedded import embedded_gguf_path
    from sara_core.models.loading import load_model
    from sara_core.presets.stances import get_stance
    from sara_core.prompts import encode_prompt, encode_steering_text
    from sara_core.steering.actadd import ActAddSteering
    from sara_core.steering.control_vector import (
        actadd_directions,
        llama_index,
        model_hint,
        read_control_vector,
        write_control_vector,
    )

    torch.set_num_threads(args.threads)
    lm = load_model()
    stance = get_stance(args.stance)
    prompt = encode_prompt(lm, args.prompt)[0].tolist()
    texts = [encode_steering_text(lm, t) for t in (stance.attract, stance.repel)]
    texts = [t[1:] if t and t[0] == lm.tokenizer.bos_token_id else t for t in texts]

    # the vectors, through the file format (coefficient 1; scaled below)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cv.gguf"
        write_control_vector(
            path,
            actadd_directions(lm, stance.attract, stance.repel, args.blocks, 1.0),
            model_hint(lm),
        )
        cv = read_control_vector(path)
    n_embd, n_layer = lm.hidden_size, lm.n_layers

    llm = llama_cpp.Llama(
        model_path=str(embedded_gguf_path()),
        n_ctx=512,
        logits_all=True,
        n_threads=args.threads,
        verbose=False,
    )
    ctx = llm._ctx.ctx
    assert llm.n_embd() == n_embd, "the GGUF and the torch model disagree on the hidden size"

    def llama_logodds(rows: dict[int, np.ndarray] | None) -> tuple[float, np.ndarray]:
        """(log-odds, last-prompt logits) with ``rows`` {il: vector} set as the control vector
        (il as llama.cpp counts; the buffer starts at il = 1, as common_control_vector_load)."""
        if rows is None:
            llama_cpp.llama_set_adapter_cvec(ctx, None, 0, n_embd, -1, -1)
            buf = None
        else:
            buf = np.zeros((n_layer - 1) * n_embd, dtype=np.float32)
            for il, vec in rows.items():
                buf[(il - 1) * n_embd : il * n_embd] = vec
            ptr = buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            rc = llama_cpp.llama_set_adapter_cvec(ctx, ptr, buf.size, n_embd, 1, n_layer)
            assert rc == 0, f"llama_set_adapter_cvec returned {rc}"
        totals = []
        last = None
        for cont in texts:
            llm.reset()
            llm.eval(prompt + cont)
            logits = np.asarray(llm.scores[: len(prompt) + len(cont)], dtype=np.float64)
            logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
            start = len(prompt) - 1
            totals.append(sum(logp[start + i, t] for i, t in enumerate(cont)))
            last = logits[start].copy()
        del buf
        return totals[0] - totals[1], last  # type: ignore[return-value]

    def torch_logodds(block: int | None, coeff: float) -> float:
        steer = ()
        if block is not None:
            diff = torch.from_numpy(cv.blocks()[block]).unsqueeze(0)  # (1, hidden): mean = itself
            steer = (ActAddSteering(diff, block, coeff, "every-position"),)
        items = [Continuation(prompt, cont, steer) for cont in texts]
        a, r = (sum(x) for x in score_continuations(lm, items))
        return a - r

    base_llama, base_logits = llama_logodds(None)
    base_torch = torch_logodds(None, 0.0)
    print(f"model {lm.name}; stance {stance.name}; prompt {args.prompt!r}")
    print(f"unsteered log-odds attract/repel: torch {base_torch:+.3f}, llama.cpp {base_llama:+.3f}")
    print(f"{'block':>5} {'N':>3} {'coeff':>6} {'torch':>8} {'llama':>8} {'N-1':>8} {'N+1':>8}")
    ok = True
    errors = {"N": [], "N-1": [], "N+1": []}
    for block in args.blocks:
        n = llama_index(block)
        vec = cv.directions[n]
        for c in args.coeffs:
            ours = torch_logodds(block, c) - base_torch
            got = {}
            for label, il in (("N", n), ("N-1", n - 1), ("N+1", n + 1)):
                if 1 <= il < n_layer:
                    got[label] = llama_logodds({il: c * vec})[0] - base_llama
                    errors[label].append(abs(got[label] - ours))
            same = np.sign(got["N"]) == np.sign(ours)
            ok &= bool(same)
            cells = " ".join(
                f"{got[k]:+8.3f}" if k in got else f"{'-':>8}" for k in ("N", "N-1", "N+1")
            )
            print(f"{block:>5} {n:>3} {c:>+6.1f} {ours:+8.3f} {cells}{'' if same else '  SIGN'}")
    mean = {k: float(np.mean(v)) for k, v in errors.items() if v}
    print("mean |llama.cpp - torch| shift: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    if mean["N"] >= min(mean.get("N-1", np.inf), mean.get("N+1", np.inf)):
        print("FAIL: a direction one layer off fits llama.cpp as well as the documented mapping")
        ok = False
    zero, zero_logits = llama_logodds(
        {il: np.zeros(n_embd, np.float32) for il in range(1, n_layer)}
    )
    moved = float(np.abs(zero_logits - base_logits).max())
    print(f"zero vector: log-odds {zero:+.6f} vs {base_llama:+.6f}; max |logit change| {moved:g}")
    ok &= zero == base_llama and moved == 0.0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
