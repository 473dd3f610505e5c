"""A ZeroGPU Space on this CPU, in its own process (run by test_zerogpu.py with SPACES_ZERO_GPU=true
and the ``spaces`` package on the path): the real package reads its configuration, decorates the
GPU functions and runs each call in a worker process it forks, as on a Space. Two parts are not
the Space's: its device API (a local fake the test serves, at SPACES_ZERO_DEVICE_API_URL) and its
CUDA patching of torch, which a CPU-only torch cannot take (replaced by the no-ops the package
itself uses where torch is not installed). Prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import os
import sys
import types
from typing import Any


def stub_cuda_patching() -> None:
    """The no-op ``spaces.zero.torch`` of spaces 0.51.3 without torch (its ImportError branch)."""
    stub: Any = types.ModuleType("spaces.zero.torch")
    for name in ("enter_mode", "patch", "unpatch", "init", "move"):
        setattr(stub, name, lambda *args, **kwargs: None)
    stub.pack = stub.size = lambda *args, **kwargs: 0
    stub.is_in_bad_fork = lambda *args, **kwargs: False
    sys.modules["spaces.zero.torch"] = stub


def main() -> None:
    stub_cuda_patching()
    from sara_lab.settings import configure_environment

    configure_environment()

    from conftest import make_tiny_lm
    from gradio_client import Client
    from lab_fixtures import ATTRACT, PROMPT, REPEL, last, run, serve_lab, tiny_lab
    from page_client import compare_values

    import sara_lab.handlers.compare as compare_module
    from sara_lab.handlers.compare import compare, compare_stream, stop
    from sara_lab.handlers.sweep import sweep, sweep_stream
    from sara_lab.handlers.tune import tune_stream

    lab = tiny_lab(make_tiny_lm("llama"))
    seen: dict[str, Any] = {
        "pid": os.getpid(),
        "zero_gpu": lab.settings.zero_gpu,
        "batching": lab.models.batching is not None,
        "decorated": [hasattr(f, "zerogpu") for f in (compare_stream, sweep_stream, tune_stream)],
    }
    answers = run(lab, max_new_tokens=8)[-1]
    seen["answers"], seen["status"] = list(answers[:3]), answers[3]

    # Stop: the main process's event cannot reach the worker; the handler closes the stream
    outputs = []
    for item in compare(
        lab,
        {"dilemma": PROMPT, "attract": ATTRACT, "repel": REPEL, "layer": 2, "max_new_tokens": 200},
        session="visitor",
    ):
        outputs.append(item)
        if item[0]:
            stop(lab, "visitor")
    seen["stopped"] = outputs[-1][3]
    seen["after_stop"] = run(lab, max_new_tokens=8)[-1][3]

    values = {
        "dilemma": PROMPT,
        "attract": ATTRACT,
        "repel": REPEL,
        "answers": True,
        "max_new_tokens": 4,
    }
    seen["sweep_rows"] = len(last(sweep(lab, values))[1])

    # the live app: gradio's request context travels into the worker too
    demo, url = serve_lab(lab)
    try:
        client = Client(url, verbose=False)
        api = client.predict(*compare_values(max_new_tokens=8), api_name="/compare")
        seen["api_answers"] = list(api[:3])
    finally:
        demo.close()

    # the lone answers of this process, without the worker: what the worker's must equal
    compare_module.compare_stream = compare_stream.__wrapped__  # type: ignore[attr-defined]
    seen["direct_answers"] = list(run(lab, max_new_tokens=8)[-1][:3])
    lab.close()
    print("ZEROGPU " + json.dumps(seen), flush=True)


if __name__ == "__main__":
    main()
