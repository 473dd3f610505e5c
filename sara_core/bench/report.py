"""What the figures were measured on, and the markdown table written beside the JSON."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

from sara_core.bench.goals import KEYS, fmt


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (ru_maxrss is KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def machine() -> dict[str, Any]:
    """The CPU, cores, thread settings and library versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
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


def markdown_table(result: dict[str, Any]) -> str:
    """The figures as a markdown table, with goals and the machine they were measured on."""
    m, s = result["machine"], result["settings"]
    device = m.get("gpu") or f"CPU: {m['cpu']}, {m['cores']} cores"
    load = result.get("load_start_end")
    load_s = f"; load average {load[0][0]:.2f} -> {load[1][0]:.2f}" if load and all(load) else ""
    lines = [
        f"Model {result['model']['name']} on {device} ({result['model']['dtype']}), "
        f"torch {m['torch']}, {result['date']}{load_s}; {s['repeats']} repeats, "
        f"{s['new_tokens']} new tokens forced, layer {s['layer']}, prompt {s['prompt_tokens']} "
        "tokens.",
        "",
        "| figure | value | goal | met |",
        "|---|---|---|---|",
    ]
    for key in KEYS:
        value = result["figures"].get(key)
        goal = result["goals"].get(key)
        goal_s = f"{goal[0]} {fmt(key, goal[1])}" if goal else ""
        met = result["met"].get(key)
        met_s = "" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {key} | {fmt(key, value)} | {goal_s} | {met_s} |")
    lines += _notes(result)
    return "\n".join(lines) + "\n"


def _notes(result: dict[str, Any]) -> list[str]:
    out: list[str] = []
    limit = result.get("limit")
    if limit:
        runs = ", ".join(
            f"{r.get('threads_1_gb_s', 0):.1f} (1 thread) / {r['best_gb_s']:.1f} (best)"
            for r in limit["runs"]
        )
        out += [
            "",
            f"Limit: {limit['weight_mb']:.0f} MB of weights per step at {limit['gb_s']:.1f} GB/s "
            f"(GEMV over 512 MB, GB/s at the start and the end: {runs}).",
        ]
    room = result.get("classroom")
    if room:
        s = result["settings"]
        out += [
            "",
            f"Classroom: {s['visitors']} compares of {s['classroom_tokens']} tokens at once, "
            f"{room['serial_s']:.1f} s one after another, {room['batched_s']:.1f} s batched; "
            f"peak memory after it {room['peak_rss_mb']:.0f} MB.",
        ]
    extra = result.get("figures_extra") or {}
    if "compare_first_s" in extra:
        out += [
            "",
            f"First words: one unsteered answer {extra['plain_first_s']:.2f} s; a compare "
            f"{extra['compare_first_s']:.2f} s with its preparations cached (a second press of a "
            f"stance, or a classroom on one), {extra['compare_first_cold_s']:.2f} s computing "
            f"them (ratio {extra['compare_first_token_ratio_cold']:.2f}).",
        ]
    if "warm_start_import_s" in extra:
        out += [
            "",
            f"Warm start = {extra['warm_start_import_s']:.2f} s importing sara_core + "
            f"{extra['warm_start_load_s']:.2f} s loading the cached model + interpreter start and "
            "exit; the warm-start process peaks at "
            f"{extra['warm_start_child_peak_rss_mb']:.0f} MB, the cold-start one at "
            f"{extra['cold_start_child_peak_rss_mb']:.0f} MB.",
        ]
    return out
