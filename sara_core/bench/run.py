"""``run_bench``: every workload, interleaved, and the figures as ratios within one run.

Every variant generates the same number of new tokens (min_new_tokens = max_new_tokens,
greedy) from the paper's prompt, steering the middle block with the paper's stance. The
single-request variants run in a rotating order within each repeat after one warm-up round;
figures are medians over the repeats, ratios medians of per-repeat ratios. The classroom runs
last, once each way. Definitions of the figures: docs/benchmark.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sara_core.bench import workloads as W
from sara_core.bench.goals import KEYS, REAL_SIZE_BYTES, goals_for, meets
from sara_core.bench.limits import bandwidth_limit, gemv_bandwidth_child, weight_bytes
from sara_core.bench.quality import int8_figures
from sara_core.bench.report import machine, peak_rss_mb
from sara_core.bench.startup import start_time

VARIANTS = ("plain", "sara", "actadd", "compare", "first_token", "first_token_cold", "app")


def _median(xs: list[float]) -> float:
    xs = [x for x in xs if x == x]  # NaN out
    return float(statistics.median(xs)) if xs else float("nan")


def classroom_prompts(n: int) -> list[str]:
    """``n`` visitors' prompts: the bundled dilemmas with the paper's prefix, in turn."""
    from sara_core.presets.paper import PAPER_DILEMMA, PAPER_PREFIX

    try:
        from sara_core.presets.dilemmas import load_dilemmas

        texts = [d.text for d in load_dilemmas()]
    except Exception:  # noqa: BLE001 - the benchmark must run even with broken presets
        texts = [PAPER_DILEMMA]
    return [PAPER_PREFIX + texts[i % len(texts)] for i in range(n)]


def _one_round(task: W.Task, order: list[str], app: Any) -> dict[str, float]:
    got: dict[str, float] = {}
    for v in order:
        if v == "plain":
            out = W.plain(task)
            got["plain"], got["plain_step"] = out["total"], out["step"]
            got["plain_first"] = out["first"]
        elif v == "sara":
            got["sara"], got["sara_prep"] = W.sara(task)
        elif v == "actadd":
            got["actadd"] = W.actadd(task)
        elif v == "compare":
            got["compare"] = W.three(task)
        elif v == "first_token":
            got["first_token"] = W.first_token(task)
        elif v == "first_token_cold":
            got["first_token_cold"] = W.first_token(task, cold=True)
        else:
            out = W.streamed(task, app)
            got["app"], got["app_step"] = out["total"], out["step"]
    return got


def run_bench(
    lm: Any = None,
    model: str | None = None,
    repeats: int = 5,
    new_tokens: int | None = 100,
    startup: bool | None = True,
    progress: bool = True,
    visitors: int | None = 20,
    classroom_tokens: int = 80,
    device: str | None = None,
    dtype: str | None = None,
    quick: bool = False,
    memory_mb: int | None = None,
) -> dict[str, Any]:
    """Measure everything; returns the JSON-ready result (figures, goals, raw timings, machine).

    ``visitors=0`` skips the classroom. None picks by the model: start-up (a cached model) and
    the classroom (20 visitors) on the embedded model only, and ``new_tokens`` 100, or with
    ``quick`` 30 on a small model and 10 on one of real size (a 2B step takes half a second)."""
    from sara_core.models.loading import load_model
    from sara_core.models.names import EMBEDDED_ALIASES

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result: dict[str, Any] = {"figures": dict.fromkeys(KEYS), "notes": {}}
    load_start = _loadavg()
    embedded = (model or "").strip() in EMBEDDED_ALIASES and lm is None
    # before this process loads anything, so the children never compete with it
    startup_info = _startup(model, embedded if startup is None else startup, result)

    lm = (
        lm
        if lm is not None
        else load_model(model, device=device, dtype=dtype or "auto", memory_mb=memory_mb)
    )
    real_size = weight_bytes(lm.model) > REAL_SIZE_BYTES
    if new_tokens is None:
        new_tokens = (10 if real_size else 30) if quick else 100
    if visitors is None:
        visitors = 20 if embedded else 0
    task = _paper_task(lm, new_tokens)
    bandwidth_runs = [gemv_bandwidth_child()]
    timings = _single_rounds(task, repeats, progress)
    rss_single = peak_rss_mb()
    bandwidth_runs.append(gemv_bandwidth_child())
    limit = bandwidth_limit(lm.model, bandwidth_runs)
    _single_figures(result["figures"], timings, new_tokens, limit, rss_single)
    room = _classroom(task, visitors, classroom_tokens, progress, result)
    settings = _settings_record(task, repeats, new_tokens, visitors, classroom_tokens)
    int8 = _int8_part(result, lm, model, memory_mb, progress)
    _record(result, task, timings, limit, room, startup_info, settings, load_start, int8)
    return result


@dataclass
class _Timings:
    """The counted rounds' raw times by key, their per-round ratios, and the times' medians."""

    raw: dict[str, list[float]]
    ratios: dict[str, list[float]]
    med: dict[str, float] = field(default_factory=dict)


def _startup(model: str | None, startup: bool, result: dict[str, Any]) -> dict[str, Any]:
    """Cold then warm start-up in child processes over a fresh cache, setting their figures;
    empty (and a note) when ``startup`` is off."""
    if not startup:
        result["notes"]["startup"] = "skipped (startup=False)"
        return {}
    f = result["figures"]
    with tempfile.TemporaryDirectory(prefix="sara-bench-cache-") as tmp:
        startup_info = {"cold": start_time(model, Path(tmp))}
        startup_info["warm"] = start_time(model, Path(tmp))
    f["cold_start_s"] = startup_info["cold"]["wall_s"]
    f["warm_start_s"] = startup_info["warm"]["wall_s"]
    return startup_info


def _paper_task(lm: Any, new_tokens: int) -> W.Task:
    """The paper's prompt and stance at the model's default block, ``new_tokens`` forced."""
    from sara_core.config import GenerationSettings
    from sara_core.presets.paper import PAPER_ATTRACT, PAPER_DILEMMA, PAPER_PREFIX, PAPER_REPEL
    from sara_core.prompts import encode_prompt

    prompt = PAPER_PREFIX + PAPER_DILEMMA
    settings = GenerationSettings(max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    return W.Task(
        lm,
        prompt,
        PAPER_ATTRACT,
        PAPER_REPEL,
        lm.default_layer,
        settings,
        encode_prompt(lm, prompt),
    )


def _single_rounds(task: W.Task, repeats: int, progress: bool) -> _Timings:
    """A warm-up round, then ``repeats`` rotated rounds: the raw times and per-round ratios."""
    from tqdm.auto import tqdm

    from sara_core.engine.scheduler import BatchScheduler

    app = BatchScheduler(task.lm)  # the app holds one per model
    times: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {
        "sara": [],
        "actadd": [],
        "compare": [],
        "app_step": [],
        "first": [],
        "first_cold": [],
    }
    total = (repeats + 1) * len(VARIANTS)
    with tqdm(total=total, desc="bench", unit="run", disable=not progress, file=sys.stderr) as bar:
        for rep in range(repeats + 1):  # repeat 0 is the warm-up, not counted
            k = rep % len(VARIANTS)
            got = _one_round(task, [*VARIANTS[k:], *VARIANTS[:k]], app)
            bar.update(len(VARIANTS))
            if rep == 0:
                continue
            for key, value in got.items():
                times.setdefault(key, []).append(value)
            for key in ("sara", "actadd", "compare"):
                ratios[key].append(got[key] / got["plain"])
            ratios["app_step"].append(got["app_step"] / got["plain_step"])
            ratios["first"].append(got["first_token"] / got["plain_first"])
            ratios["first_cold"].append(got["first_token_cold"] / got["plain_first"])
    app.close()
    return _Timings(times, ratios)


def _single_figures(
    f: dict[str, Any], timings: _Timings, new_tokens: int, limit: dict[str, Any], rss: float
) -> None:
    """Set the single-request figures in ``f`` and the timings' medians."""
    times, ratios = timings.raw, timings.ratios
    med = timings.med = {k: _median(v) for k, v in times.items()}
    f["sara_overhead"] = _median(ratios["sara"])
    f["actadd_overhead"] = _median(ratios["actadd"])
    f["compare_ratio"] = _median(ratios["compare"])
    f["compare_first_token_ratio"] = _median(ratios["first"])
    f["prep_share"] = _median(
        [p / s for p, s in zip(times["sara_prep"], times["sara"], strict=True)]
    )
    f["tokens_per_s"] = new_tokens / med["plain"]
    f["decode_tokens_per_s"] = 1 / med["plain_step"]
    f["bandwidth_limit_tok_s"] = limit["limit_tok_s"]
    f["efficiency"] = f["decode_tokens_per_s"] / limit["limit_tok_s"]
    f["app_step_ratio"] = _median(ratios["app_step"])
    f["first_token_s"] = med["first_token"]
    f["peak_rss_mb"] = rss


def _classroom(
    task: W.Task, visitors: int, classroom_tokens: int, progress: bool, result: dict[str, Any]
) -> dict[str, Any]:
    """The classroom batched and serially (or a note that it was skipped); its timings."""
    from sara_core.config import GenerationSettings

    f = result["figures"]
    room: dict[str, Any] = {}
    if visitors > 0:
        prompts = classroom_prompts(visitors)
        room_settings = GenerationSettings(
            max_new_tokens=classroom_tokens, min_new_tokens=classroom_tokens
        )
        if progress:
            print(f"bench: classroom of {visitors} visitors, both ways", file=sys.stderr)
        room["batched_s"] = W.classroom(task, prompts, None, room_settings)
        room["serial_s"] = W.classroom(task, prompts, 3, room_settings)
        room["peak_rss_mb"] = peak_rss_mb()
        f["classroom_speedup"] = room["serial_s"] / room["batched_s"]
    else:
        result["notes"]["classroom"] = "skipped (visitors=0)"
    return room


def _record(
    result: dict[str, Any],
    task: W.Task,
    timings: _Timings,
    limit: dict[str, Any],
    room: dict[str, Any],
    startup_info: dict[str, Any],
    settings: dict[str, Any],
    load_start: list[float] | None,
    int8: bool = False,
) -> None:
    """Add the goals, the extra figures and every raw detail to ``result``."""
    lm, f, med = task.lm, result["figures"], timings.med
    goals = goals_for(lm.name, weight_bytes(lm.model), lm.device.type, int8)
    result["figures_extra"] = {
        "compare_first_token_ratio_cold": _median(timings.ratios["first_cold"]),
        "plain_first_s": med["plain_first"],
        "compare_first_s": med["first_token"],
        "compare_first_cold_s": med["first_token_cold"],
    }
    result.update(
        {
            "model": lm.describe(),
            "settings": settings,
            "goals": {k: list(v) for k, v in goals.items()},
            "met": {
                k: meets(f.get(k), op, target)
                for k, (op, target) in goals.items()
                if f.get(k) is not None
            },
            "medians_s": med,
            "raw_s": timings.raw,
            "limit": limit,
            "classroom": room,
            "startup": startup_info,
            "machine": machine(),
            "load_start_end": [load_start, _loadavg()],
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
    )
    if startup_info:
        result["figures_extra"] |= _startup_extra(startup_info)


def _settings_record(
    task: W.Task, repeats: int, new_tokens: int, visitors: int, classroom_tokens: int
) -> dict[str, Any]:
    """The settings the run used, as the result records them."""
    return {
        "repeats": repeats,
        "new_tokens": new_tokens,
        "layer": task.layer,
        "prompt_tokens": int(task.ids.shape[1]),
        "decoding": "greedy, min_new_tokens = max_new_tokens",
        "tokens_produced": sorted(set(task.produced)),
        "visitors": visitors,
        "classroom_tokens": classroom_tokens,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def _startup_extra(startup_info: dict[str, Any]) -> dict[str, Any]:
    """The start-up children's split and memory, for ``figures_extra``."""
    return {
        "warm_start_import_s": startup_info["warm"]["import_s"],
        "warm_start_load_s": startup_info["warm"]["load_s"],
        "warm_start_child_peak_rss_mb": startup_info["warm"]["rss_mb"],
        "cold_start_child_peak_rss_mb": startup_info["cold"]["rss_mb"],
    }


def _int8_part(
    result: dict[str, Any], lm: Any, model: str | None, memory_mb: int | None, progress: bool
) -> bool:
    """For a model in int8: quality, speed and memory against float32 on the same model
    (quality.py), into ``result``. Whether it is in int8."""
    if lm.weight_dtype != torch.int8:
        return False
    if progress:
        print("bench: int8 against float32 (two child processes)", file=sys.stderr)
    result["int8"] = int8_figures(lm, model or lm.name, memory_mb)
    result["figures"].update({k: v for k, v in result["int8"].items() if k in KEYS})
    return True


def _loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:  # pragma: no cover - not Linux
        return None
