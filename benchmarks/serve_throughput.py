"""Tokens per second of ``python -m sara_core serve`` for 1 and for 8 concurrent clients, beside
the library's ``compare`` in the same run, on the embedded model.

The server runs as its own process (as deployed: ``python -m sara_core serve``), the clients are
threads of this process using the stock ``openai`` client. Every answer is greedy, steered with
SARA by the server's default (``--stance``), and asks for ``--tokens`` new tokens; an answer that
ends early counts its real tokens (``usage``). ``compare`` (forced to the same length) runs in
this process while the server idles. The three are measured in turns, ``--rounds`` times, and
each figure is the median of its rounds, so a machine whose load changes during the run weighs on
all three alike.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/serve_throughput.py [--tokens 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "How will the exam go?",
    "Should I tell my friend the truth about the broken vase?",
    "What should a city do with an empty lot?",
    "Is it fair to keep a found wallet?",
    "How do I prepare for a job interview?",
    "Should they report them to the authorities or protect them?",
    "What makes a good neighbour?",
    "Can a small lie ever be kind?",
]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, tokens: int, stance: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "sara_core", "serve", "--port", str(port)]
    cmd += ["--stance", stance, "--max-tokens", str(tokens), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    until = time.monotonic() + 300
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the server did not start in 5 minutes")


def clients(url: str, n_clients: int, per_client: int, tokens: int) -> dict:
    """``n_clients`` threads, each sending ``per_client`` requests one after another."""
    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)

    def one(i: int) -> tuple[int, float]:
        total, latency = 0, 0.0
        for j in range(per_client):
            q = QUESTIONS[(i * per_client + j) % len(QUESTIONS)]
            t0 = time.perf_counter()
            r = client.chat.completions.create(
                model="x",
                messages=[{"role": "user", "content": q}],
                temperature=0,
                max_tokens=tokens,
            )
            latency += time.perf_counter() - t0
            total += r.usage.completion_tokens
        return total, latency

    t0 = time.perf_counter()
    with ThreadPoolExecutor(n_clients) as pool:
        results = list(pool.map(one, range(n_clients)))
    wall = time.perf_counter() - t0
    tokens_out = sum(t for t, _ in results)
    return {
        "clients": n_clients,
        "requests": n_clients * per_client,
        "tokens": tokens_out,
        "seconds": round(wall, 2),
        "tokens_per_s": round(tokens_out / wall, 2),
        "mean_latency_s": round(sum(lat for _, lat in results) / (n_clients * per_client), 2),
    }


def compare_once(lm, question: str, tokens: int, stance: str) -> dict:
    """The library's compare (original, SARA, ActAdd in one batch), forced to ``tokens``."""
    from sara_core.config import GenerationSettings, SteeringConfig
    from sara_core.engine.compare import compare
    from sara_core.presets.stances import get_stance

    s = get_stance(stance)
    gen = GenerationSettings(max_new_tokens=tokens, min_new_tokens=tokens)
    r = compare(lm, question, s.attract, s.repel, SteeringConfig(), gen)
    n, t = sum(r.timing["new_tokens"].values()), r.timing["generate_s"]
    return {"rows": 3, "tokens": n, "seconds": round(t, 2), "tokens_per_s": round(n / t, 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--stance", default="optimistic")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args()
    from sara_core.models.loading import load_model

    lm = load_model()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server = start_server(port, args.tokens, args.stance)
    rounds: dict[str, list[dict]] = {"serve_1_client": [], "serve_8_clients": [], "compare": []}
    try:
        clients(url, 1, 1, 8)  # warm-up: the first batch
        compare_once(lm, QUESTIONS[0], 8, args.stance)
        for i in range(args.rounds):
            rounds["compare"].append(compare_once(lm, QUESTIONS[i], args.tokens, args.stance))
            rounds["serve_1_client"].append(clients(url, 1, 2, args.tokens))
            rounds["serve_8_clients"].append(clients(url, 8, 1, args.tokens))
    finally:
        server.terminate()
        server.wait(30)
    median = {k: statistics.median(r["tokens_per_s"] for r in v) for k, v in rounds.items()}
    out = {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "tokens_per_answer": args.tokens,
        "median_tokens_per_s": median,
        "rounds": rounds,
    }
    print(json.dumps(out, indent=2))
    print(
        f"\n| 1 client | 8 clients | compare (3 rows) |\n|---|---|---|\n"
        f"| {median['serve_1_client']:.1f} tok/s | {median['serve_8_clients']:.1f} tok/s | "
        f"{median['compare']:.1f} tok/s |"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
