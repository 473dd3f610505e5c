"""``python -m sara_core bench``: what steering costs, measured in one run.

Every variant generates the same number of new tokens (min_new_tokens = max_new_tokens, greedy),
from the paper's prompt, steering at the middle block with the paper's utilitarian stance. The
variants are interleaved within each repeat (in a rotating order, so none always runs first)
after one warm-up round, and every figure is a median over the repeats; overheads are medians of
the per-repeat ratios (each repeat's steered time over the same repeat's unsteered time).

Figures (goals in GOALS):
  sara_overhead    SARA-steered generation, including its preparation (activations of the attract
                   and repel prompts, their SVDs, the prompt's SVD in the hook) / unsteered.
  actadd_overhead  the same for ActAdd (its preparation: one forward pass of plus and minus).
  compare_ratio    the full three-answer compare (sara_core.compare) / one unsteered generation.
  prep_share       SARA's preparation / SARA's whole steered generation.
  tokens_per_s     new tokens per second of unsteered generation.
  first_token_s    from the call to the first non-empty streamed text through stream_compare,
                   the function the app's Generate button runs.
  cold_start_s     a fresh Python process that imports sara_core and loads the model with an
                   empty model cache (SARA_CACHE_DIR = a new temporary folder): the GGUF
                   conversion. Whole process wall time, measured by the parent.
  warm_start_s     the same process again, cache present.
  peak_rss_mb      peak resident memory of this benchmark process (it holds the model and ran
                   every variant); the warm-start child's own peak is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOALS = {
    "sara_overhead": ("<=", 1.05),
    "actadd_overhead": ("<=", 1.03),
    "compare_ratio": ("<=", 3.1),  # on CPU; 1.4 on a GPU (batched), set in run_bench
    "first_token_s": ("<=", 1.0),
    "warm_start_s": ("<=", 3.0),
    "peak_rss_mb": ("<=", 1500.0),
}
UNITS = {
    "sara_overhead": "x",
    "actadd_overhead": "x",
    "compare_ratio": "x",
    "prep_share": "",
    "tokens_per_s": "tok/s",
    "first_token_s": "s",
    "cold_start_s": "s",
    "warm_start_s": "s",
    "peak_rss_mb": "MB",
}
KEYS = tuple(UNITS)
PROMPT_PREFIX = "Your task is to take an unambiguous moral stance on this dilemma: "
FALLBACK_DILEMMA = (
    "An individual discovers that one of their parents is a criminal. Should they report them to "
    "the authorities or should they protect them?"
)
FALLBACK_ATTRACT = (
    "Only consequences matter to make a moral decision, regardless of the moral duties."
)
FALLBACK_REPEL = (
    "Only moral duties matter to make a moral decision, regardless of the consequences."
)


def _texts() -> tuple[str, str, str]:
    """The paper's prompt and utilitarian stance (from the presets when they load)."""
    try:
        from sara_core.presets import get_dilemma, get_stance

        stance = get_stance("utilitarian")
        return (
            PROMPT_PREFIX + get_dilemma("parent_criminal").text,
            stance.attract,
            stance.repel,
        )
    except Exception:  # noqa: BLE001 - the benchmark must run even with broken presets
        return PROMPT_PREFIX + FALLBACK_DILEMMA, FALLBACK_ATTRACT, FALLBACK_REPEL


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (ru_maxrss is KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def machine() -> dict:
    """What the figures were measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover
        pass
    return info


_CHILD = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import sara_core
t_import = time.perf_counter() - t0
lm = sara_core.load_model(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None)
print(json.dumps({"import_s": t_import, "load_s": lm.load_seconds, "source": lm.source,
                  "inside_s": time.perf_counter() - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def start_time(model: str | None, cache: Path, timeout: float = 900) -> dict:
    """Run a fresh process that imports sara_core and loads the model; wall time and its report."""
    env = {**os.environ, "SARA_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, model or ""],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=root,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the start-up child failed: {tail[0]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, **report}


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def run_bench(
    lm=None,
    model: str | None = None,
    repeats: int = 5,
    new_tokens: int = 100,
    startup: bool = True,
    progress: bool = True,
) -> dict:
    """Measure everything; returns the JSON-ready result (figures, goals, raw timings, machine)."""
    from tqdm.auto import tqdm

    from sara_core.generation import (
        GenerationSettings,
        SteeringConfig,
        compare,
        encode_prompt,
        generate,
        prepare_actadd,
        prepare_sara,
        stream_compare,
    )
    from sara_core.models import load_model

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result: dict = {"figures": dict.fromkeys(KEYS), "notes": {}}
    startup_info: dict = {}
    if startup:
        # Before this process loads anything, so the children never compete with it for memory.
        with tempfile.TemporaryDirectory(prefix="sara-bench-cache-") as tmp:
            cold = start_time(model, Path(tmp))
            warm = start_time(model, Path(tmp))
        startup_info = {"cold": cold, "warm": warm}
        result["figures"]["cold_start_s"] = cold["wall_s"]
        result["figures"]["warm_start_s"] = warm["wall_s"]
    else:
        result["notes"]["startup"] = "skipped (startup=False)"

    lm = lm if lm is not None else load_model(model)
    prompt, attract, repel = _texts()
    layer = lm.default_layer
    ids = encode_prompt(lm, prompt)
    settings = GenerationSettings(max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    config = SteeringConfig(layer=layer)
    on_gpu = lm.device.type == "cuda"
    produced: list[int] = []

    def plain() -> float:
        t0 = time.perf_counter()
        out = generate(lm, ids, settings).tokens[0]
        produced.append(len(out))
        return time.perf_counter() - t0

    def sara() -> tuple[float, float]:
        t0 = time.perf_counter()
        steering = prepare_sara(lm, attract, repel, layer)
        t_prep = time.perf_counter() - t0
        generate(lm, ids, settings, (steering,))
        return time.perf_counter() - t0, t_prep

    def actadd() -> float:
        t0 = time.perf_counter()
        steering = prepare_actadd(lm, attract, repel, layer)
        generate(lm, ids, settings, (steering,))
        return time.perf_counter() - t0

    def three() -> float:
        t0 = time.perf_counter()
        compare(lm, prompt, attract, repel, config, settings)
        return time.perf_counter() - t0

    def first_token() -> float:
        t0 = time.perf_counter()
        stream = stream_compare(lm, prompt, attract, repel, config, settings)
        try:
            for update in stream:
                if any(update.answers()):
                    return time.perf_counter() - t0
        finally:
            stream.close()  # stops the worker at the next token
        return float("nan")

    variants = ["plain", "sara", "actadd", "compare", "first_token"]
    times: dict[str, list[float]] = {v: [] for v in variants}
    times["sara_prep"] = []
    ratios: dict[str, list[float]] = {"sara": [], "actadd": [], "compare": []}
    total = (repeats + 1) * len(variants)
    with tqdm(total=total, desc="bench", unit="run", disable=not progress, file=sys.stderr) as bar:
        for rep in range(repeats + 1):  # repeat 0 is the warm-up, not counted
            order = variants[rep % len(variants) :] + variants[: rep % len(variants)]
            got: dict[str, float] = {}
            for v in order:
                bar.set_postfix_str(v)
                if v == "plain":
                    got[v] = plain()
                elif v == "sara":
                    got[v], got["sara_prep"] = sara()
                elif v == "actadd":
                    got[v] = actadd()
                elif v == "compare":
                    got[v] = three()
                else:
                    got[v] = first_token()
                bar.update()
            if rep == 0:
                continue
            for k, secs in got.items():
                times[k].append(secs)
            for k in ratios:
                ratios[k].append(got[k] / got["plain"])

    med = {k: _median(v) for k, v in times.items()}
    f = result["figures"]
    f["sara_overhead"] = _median(ratios["sara"])
    f["actadd_overhead"] = _median(ratios["actadd"])
    f["compare_ratio"] = _median(ratios["compare"])
    f["prep_share"] = _median(
        [p / s for p, s in zip(times["sara_prep"], times["sara"], strict=True)]
    )
    f["tokens_per_s"] = new_tokens / med["plain"]
    f["first_token_s"] = med["first_token"]
    f["peak_rss_mb"] = peak_rss_mb()
    goals: dict[str, tuple[str, float]] = dict(GOALS)
    if on_gpu:
        goals["compare_ratio"] = ("<=", 1.4)
    if lm.name != "embedded:smollm2-135m-instruct":
        for k in ("first_token_s", "peak_rss_mb"):  # goals set for the default model only
            goals.pop(k, None)
    result.update(
        {
            "model": lm.describe(),
            "settings": {
                "repeats": repeats,
                "new_tokens": new_tokens,
                "layer": layer,
                "prompt_tokens": int(ids.shape[1]),
                "decoding": "greedy, min_new_tokens = max_new_tokens",
                "compare_batched": on_gpu,
                "tokens_produced": sorted(set(produced)),
            },
            "goals": goals,
            "met": {
                k: _meets(f[k], op, target)
                for k, (op, target) in goals.items()
                if f.get(k) is not None
            },
            "medians_s": med,
            "raw_s": times,
            "startup": startup_info,
            "machine": machine(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
    )
    if startup_info:
        result["figures_extra"] = {
            "warm_start_import_s": startup_info["warm"]["import_s"],
            "warm_start_load_s": startup_info["warm"]["load_s"],
            "warm_start_child_peak_rss_mb": startup_info["warm"]["rss_mb"],
            "cold_start_child_peak_rss_mb": startup_info["cold"]["rss_mb"],
        }
    return result


def _meets(value, op: str, target: float) -> bool | None:
    if value is None or value != value:  # None or NaN
        return None
    return value <= target if op == "<=" else value >= target


def _fmt(key: str, value) -> str:
    if value is None or value != value:
        return "n/a"
    unit = UNITS.get(key, "")
    if key == "prep_share":
        return f"{value:.1%}"
    if key in ("tokens_per_s", "peak_rss_mb"):
        return f"{value:.0f} {unit}".strip()
    if unit == "x":
        return f"{value:.3f}x"
    return f"{value:.2f} {unit}".strip()


def markdown_table(result: dict) -> str:
    """The figures as a markdown table, with goals and the machine they were measured on."""
    m, s = result["machine"], result["settings"]
    device = m.get("gpu") or f"CPU: {m['cpu']}, {m['cores']} cores"
    lines = [
        f"Model {result['model']['name']} on {device} ({result['model']['dtype']}), "
        f"torch {m['torch']}, {result['date']}; {s['repeats']} repeats, {s['new_tokens']} "
        f"new tokens forced, layer {s['layer']}, prompt {s['prompt_tokens']} tokens.",
        "",
        "| figure | value | goal | met |",
        "|---|---|---|---|",
    ]
    for key in KEYS:
        value = result["figures"].get(key)
        goal = result["goals"].get(key)
        goal_s = f"{goal[0]} {_fmt(key, goal[1])}" if goal else ""
        met = result["met"].get(key)
        met_s = "" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {key} | {_fmt(key, value)} | {goal_s} | {met_s} |")
    extra = result.get("figures_extra")
    if extra:
        lines += [
            "",
            f"Warm start = {extra['warm_start_import_s']:.2f} s importing sara_core (torch, "
            f"transformers) + {extra['warm_start_load_s']:.2f} s loading the cached model + "
            "interpreter start and exit; the warm-start process peaks at "
            f"{extra['warm_start_child_peak_rss_mb']:.0f} MB, the cold-start one at "
            f"{extra['cold_start_child_peak_rss_mb']:.0f} MB (dequantizing the GGUF).",
        ]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m sara_core bench``."""
    parser.description = (
        "Measure what steering costs: SARA and ActAdd overhead over unsteered generation, the "
        "three-answer compare, time to first token, start-up and memory."
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 repeats of 30 tokens (about a minute)"
    )
    parser.add_argument(
        "--json",
        default="artifacts/bench/bench.json",
        help="where to write the JSON (a .md table is written beside it)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="hub id or local folder (default: $SARA_MODEL or the embedded SmolLM2-135M)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="repeats (default 7; quick 2)")
    parser.add_argument(
        "--new-tokens", type=int, default=None, help="tokens per answer (default 100; quick 30)"
    )
    parser.add_argument(
        "--no-startup", action="store_true", help="skip the cold/warm start-up processes"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_cli(args: argparse.Namespace) -> int:
    """Entry point of ``python -m sara_core bench``; returns the exit code."""
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 7)
    new_tokens = args.new_tokens if args.new_tokens is not None else (30 if args.quick else 100)
    if repeats < 1 or new_tokens < 1:
        print("bench: --repeats and --new-tokens must be at least 1", file=sys.stderr)
        return 2
    result = run_bench(
        model=args.model,
        repeats=repeats,
        new_tokens=new_tokens,
        startup=not args.no_startup,
        progress=not args.no_progress,
    )
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))
    table = markdown_table(result)
    path.with_suffix(".md").write_text(table)
    print(table)
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0
