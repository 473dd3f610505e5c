"""Every path on the packaged real models, timed on this machine (docs/real-models.md).

For each ``pypi:NAME``: install and convert into a fresh cache (``models install``), then ``info``,
``compare``, ``tune --quick``, ``choice --quick``, the OpenAI-compatible server (a system message
and two turns through the stock ``openai`` client) and the app (``/compare`` through
``gradio_client``), each in its own process, with its wall time and peak memory. Writes one JSON
object per model to --out (a folder) and prints a summary table.

    .venv/bin/python scripts/real_models_check.py --out artifacts/real-models \\
        gemma-3-270m qwen2.5-coder-0.5b-instruct qwen2.5-coder-1.5b-instruct

Slow by design (minutes per model): it is a measurement, run by hand, never in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DILEMMA = (
    "An individual discovers that one of their parents is a criminal. Should they report them "
    "to the authorities or should they protect them?"
)
ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."
TOKENS = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], env: dict[str, str], timeout: float = 3600) -> dict[str, Any]:
    """``python -m sara_core ARGS`` under scripts/peak_rss.py: wall time, peak, stdout."""
    start = time.perf_counter()
    done = subprocess.run(
        [PY, str(ROOT / "scripts" / "peak_rss.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - start
    peak = int(done.stderr.rsplit("PEAK ", 1)[1].split()[0]) if "PEAK " in done.stderr else 0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {done.stderr[-1500:]}")
    return {"wall_s": round(wall, 1), "peak_gb": round(peak / 1e9, 2), "stdout": done.stdout}


def _wait_http(url: str, timeout: float, proc: subprocess.Popen) -> float:
    import urllib.error
    import urllib.request

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the process ended early ({proc.returncode})")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback only
            return time.perf_counter() - start
        except urllib.error.HTTPError:
            return time.perf_counter() - start  # it answers: up
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout:g} s")


def _serve(model: str, env: dict[str, str]) -> dict[str, Any]:
    import openai

    port = _free_port()
    args = ["-m", "sara_core", "serve", "--model", model, "--port", str(port), "--stance"]
    proc = subprocess.Popen([PY, *args, "optimistic"], cwd=ROOT, env=env)
    try:
        up = _wait_http(f"http://127.0.0.1:{port}/v1/models", 900, proc)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none")
        start = time.perf_counter()
        reply = client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": "You answer in one short sentence."},
                {"role": "user", "content": "Is it ever right to lie?"},
                {"role": "assistant", "content": "Sometimes, to protect someone."},
                {"role": "user", "content": "Give one example."},
            ],
            max_tokens=40,
        )
        return {
            "start_s": round(up, 1),
            "reply_s": round(time.perf_counter() - start, 1),
            "finish": reply.choices[0].finish_reason,
            "text": reply.choices[0].message.content,
        }
    finally:
        proc.terminate()
        proc.wait(60)


def _app(model: str, env: dict[str, str]) -> dict[str, Any]:
    from gradio_client import Client

    port = _free_port()
    app_env = {**env, "SARA_MODEL": model, "GRADIO_SERVER_PORT": str(port)}
    proc = subprocess.Popen([PY, "app.py"], cwd=ROOT, env=app_env)
    try:
        up = _wait_http(f"http://127.0.0.1:{port}/", 900, proc)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        start = time.perf_counter()
        out = client.predict(DILEMMA, ATTRACT, REPEL, None, 24, api_name="/compare")
        return {
            "start_s": round(up, 1),
            "compare_s": round(time.perf_counter() - start, 1),
            "answers": [str(a)[:300] for a in out[:3]],
        }
    finally:
        proc.terminate()
        proc.wait(60)


def check(name: str, cache: Path) -> dict[str, Any]:
    """Every path on ``pypi:name``, in a fresh cache folder."""
    model = f"pypi:{name}"
    env = {
        **os.environ,
        "SARA_CACHE_DIR": str(cache),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
    }
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    out: dict[str, Any] = {"model": model}
    install = _run(["models", "install", name], env)
    out["install"] = {k: install[k] for k in ("wall_s", "peak_gb")}
    info = _run(["info", "--model", model, "--json"], env)
    out["info"] = {"wall_s": info["wall_s"], **json.loads(info["stdout"])}
    cmp_args = ["compare", "--model", model, "--dilemma-id", "parent_criminal", "--paper-prefix"]
    cmp_args += ["--stance", "utilitarian", "--max-new-tokens", str(TOKENS), "--json"]
    compare = _run(cmp_args, env)
    result = json.loads(compare["stdout"])
    out["compare"] = {
        "wall_s": compare["wall_s"],
        "peak_gb": compare["peak_gb"],
        "timing": result.get("timing"),
        "settings": result.get("settings"),
        "answers": {k: result.get(k) for k in ("original", "sara", "actadd", "prompted")},
    }
    tune_args = ["tune", "--model", model, "--dilemma-id", "parent_criminal", "--quick"]
    tune = _run([*tune_args, "--stance", "utilitarian"], env)
    out["tune_quick"] = {k: tune[k] for k in ("wall_s", "peak_gb")}
    choice_args = ["choice", "--model", model, "--items", "sentiment", "--quick"]
    choice = _run([*choice_args, "--stance", "optimistic"], env)
    out["choice_quick"] = {k: choice[k] for k in ("wall_s", "peak_gb")}
    out["choice_quick"]["summary"] = choice["stdout"][-1500:]
    out["serve"] = _serve(model, env)
    out["app"] = _app(model, env)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", help="packaged model names (without pypi:)")
    parser.add_argument("--out", required=True, help="folder for one JSON file per model")
    parser.add_argument("--cache", help="cache folder (default: a fresh temporary one)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="sara-check-"))
    for name in args.names:
        result = check(name, cache)
        (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
        print(json.dumps({k: v for k, v in result.items() if k != "compare"}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
