"""One-row decode speed of llama.cpp (llama-cpp-python) on a GGUF file: the anchor that
docs/benchmark.md sets beside our float32 and int8 figures (a one-off measurement, not a test).

It evaluates the paper's prompt, then decodes ``--tokens`` tokens greedily, one row, on
``--threads`` threads, ``--repeats`` times, and prints the median seconds per decode step (from
the first new token to the last) and tokens/s. ``--make-q8`` first writes a Q8_0 copy of the file
with llama.cpp's own quantizer (``llama_model_quantize``; from a Q4_K_M file it requantizes, which
keeps exactly the weights our float32 conversion of that file holds, at 8 bits).

On this project's machine (an Intel Xeon with AMX) llama.cpp's AMX matrix products crashed
(a segmentation fault in ``ggml_backend_amx_mul_mat`` on the first decode), so the model loads
without llama.cpp's extra weight buffer types (``use_extra_bufts = False``: no AMX, no repacked
weights; its AVX-512 kernels run); ``--extra-bufts`` keeps them where they work.

llama-cpp-python is not a dependency (it builds from source, about 20 minutes); build it in its
own venv and run this script with that venv's python:

    python3 -m venv /work/scratch-llama/venv
    nice -n 19 /work/scratch-llama/venv/bin/pip install llama-cpp-python==0.3.36
    /work/scratch-llama/venv/bin/python scripts/bench_llamacpp.py FILE.gguf [--make-q8 OUT.gguf]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import sys
import time
from pathlib import Path

PROMPT = (
    "Consider the following situation and answer in a few sentences: a friend has found a wallet "
    "with money and an identity card in it. Should they report it to the authorities?"
)
Q8_0 = 7  # LLAMA_FTYPE_MOSTLY_Q8_0


def make_q8(llama_cpp: object, src: Path, out: Path, threads: int) -> None:
    """Write ``out``, the Q8_0 copy of ``src``, with llama.cpp's quantizer."""
    lc: object = llama_cpp
    params = lc.llama_model_quantize_default_params()  # type: ignore[attr-defined]
    params.ftype = Q8_0
    params.nthread = threads
    params.allow_requantize = True
    rc = lc.llama_model_quantize(  # type: ignore[attr-defined]
        str(src).encode(), str(out).encode(), ctypes.byref(params)
    )
    if rc != 0:
        raise SystemExit(f"llama_model_quantize returned {rc}")


def no_extra_buffer_types(llama_cpp: object) -> None:
    """Have every later ``Llama`` load with ``use_extra_bufts = False`` (see the docstring)."""
    import llama_cpp.llama as high_level

    real = llama_cpp.llama_model_default_params  # type: ignore[attr-defined]

    def params() -> object:
        p = real()
        p.use_extra_bufts = False
        return p

    high_level.llama_cpp.llama_model_default_params = params  # type: ignore[attr-defined]


def decode_steps(llm: object, tokens: int) -> tuple[float, float]:
    """(seconds to the first new token, seconds per decode step) of one greedy generation."""
    m: object = llm
    m.reset()  # type: ignore[attr-defined]
    ids = m.tokenize(PROMPT.encode())  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    stamps = []
    for _ in m.generate(ids, temp=0.0, top_k=1, reset=True):  # type: ignore[attr-defined]
        stamps.append(time.perf_counter())
        if len(stamps) == tokens:
            break
    return stamps[0] - t0, (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("gguf", type=Path)
    p.add_argument("--make-q8", type=Path, default=None, help="write and measure a Q8_0 copy")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--extra-bufts", action="store_true", help="keep AMX / repacked weights")
    args = p.parse_args()
    try:
        import llama_cpp
    except ImportError as exc:
        print(f"llama_cpp is not importable ({exc}): see this script's docstring", file=sys.stderr)
        return 2
    if not args.extra_bufts:
        no_extra_buffer_types(llama_cpp)
    files = [args.gguf]
    if args.make_q8 is not None:
        if not args.make_q8.is_file():
            make_q8(llama_cpp, args.gguf, args.make_q8, args.threads)
        files.append(args.make_q8)
    for path in files:
        llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=512, n_threads=args.threads, verbose=False
        )
        decode_steps(llm, 4)  # warm-up
        runs = [decode_steps(llm, args.tokens) for _ in range(args.repeats)]
        step = statistics.median(r[1] for r in runs)
        first = statistics.median(r[0] for r in runs)
        info = {
            "file": path.name,
            "bytes": path.stat().st_size,
            "threads": args.threads,
            "extra_bufts": args.extra_bufts,
            "step_s": step,
            "tokens_per_s": 1 / step,
            "first_token_s": first,
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        }
        print(json.dumps(info))
        del llm
    return 0


if __name__ == "__main__":
    sys.exit(main())
