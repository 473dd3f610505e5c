"""``evaluate`` over processes and resumed, end to end on the embedded model (real launches).

Two CPU processes under ``python -m torch.distributed.run`` make the same answers as one
process, row for row; a run killed with SIGKILL and resumed makes the same answers as one that
was not, decoding only the missing ones, also on more processes than there are batches left;
a process that fails makes the launch fail with its error shown once. The run is ``evaluate
--quick`` cut to 6 answers of 6 tokens in 3 batches. (Processes with different settings are
refused: tests/evaluation/test_answers.py, with threads as ranks.)

Every process of a launch gets one intra-op thread (torchrun's OMP_NUM_THREADS=1), so the
one-process runs here get one too: the answers do not depend on threads, but the last digits of
a perplexity can (docs/full-experiment.md).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("launch_worker.py")
QUICK = [
    *("evaluate", "--quick", "--dilemmas", "parent_criminal", "--layers", "15", "--reps", "1"),
    *("--baseline-reps", "2", "--max-new-tokens", "6", "--batch-size", "2", "--no-mfq"),
    *("--n-boot", "100", "--sara-coeff", "4", "--actadd-coeff", "12", "--no-progress"),
]  # strong enough that the steered answers differ from the originals within 6 tokens
pytestmark = pytest.mark.e2e
STUB = {"SARA_TEST_JUDGE": "stub"}


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _start(cmd: list[str], **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(**extra), cwd=ROOT
    )


def _finish(proc: subprocess.Popen, timeout: float = 300) -> subprocess.CompletedProcess:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def one_process(out: Path, *args: str, worker: bool = False, **extra: str) -> subprocess.Popen:
    head = [sys.executable, str(WORKER)] if worker else [sys.executable, "-m", "sara_core"]
    return _start([*head, *QUICK, "--out", str(out), *args], **extra)


def launch(n: int, out: Path, *args: str, worker: bool = False, **extra: str) -> subprocess.Popen:
    """``torchrun --standalone --nproc_per_node n`` (a free port: other launches may run)."""
    head = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    what = [str(WORKER)] if worker else ["-m", "sara_core"]
    return _start([*head, str(n), *what, *QUICK, "--out", str(out), *args], **extra)


def answers(folder: Path) -> list[dict]:
    """The merged answers without their timing (the only field that may differ)."""
    rows = [json.loads(line) for line in (folder / "answers.jsonl").read_text().splitlines()]
    for r in rows:
        r["row"].pop("seconds")
    return rows


def results(folder: Path) -> list[dict]:
    with (folder / "results.csv").open() as fh:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)]


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Three runs started together (every process has one thread, so together they use both
    cores): the uninterrupted one-process run (``one``), the same on two processes (``two``),
    and a one-process run killed by SIGKILL after its second batch (``killed``)."""
    base = tmp_path_factory.mktemp("runs")
    started = {
        "one": one_process(base / "one", "--json", str(base / "one.json")),
        "two": launch(2, base / "two", "--json", str(base / "two.json")),
        "killed": one_process(base / "killed", worker=True, SARA_TEST_FAULT="kill-after-batch-2"),
    }
    finished = {name: _finish(proc) for name, proc in started.items()}
    ok(finished["one"])
    (base / "killed.rc").write_text(str(finished["killed"].returncode))
    (base / "two.err").write_text(ok(finished["two"]).stderr)
    return base


def test_two_processes_make_the_one_process_answers_row_for_row(runs):
    one, two = runs / "one", runs / "two"
    assert "generating 6 answers on 2 processes in 3 batches" in (runs / "two.err").read_text()
    assert answers(two) == answers(one)
    assert len(answers(two)) == 6 and len({r["row"]["answer"] for r in answers(two)}) > 1
    assert results(two) == results(one)  # the same labels too
    for name in ("groups.png", "layers.png", "coherence.png"):
        assert (two / name).read_bytes() == (one / name).read_bytes(), name
    summary_two = json.loads((runs / "two.json").read_text())
    summary_one = json.loads((runs / "one.json").read_text())
    got = [summary_two[k] for k in ("processes", "rows", "resumed", "generated")]
    assert got == [2, 6, 0, 6] and summary_two["seconds"] > 0
    assert (summary_one["processes"], summary_one["rows"]) == (1, 6)
    assert sorted(p.name for p in two.glob("answers*.jsonl")) == ["answers.jsonl"]


def test_a_killed_run_resumes_with_only_the_missing_answers_on_any_number_of_processes(
    runs, tmp_path
):
    out = runs / "killed"
    assert (runs / "killed.rc").read_text() == "-9"
    part = out / "answers-000.jsonl"
    assert len(part.read_text().splitlines()) == 4  # two batches, stored before the kill
    # the fifth answer written halfway (as by a kill in the middle of a write): never merged
    whole = (runs / "one" / "answers.jsonl").read_text().splitlines()[4]
    with part.open("a") as fh:
        fh.write(whole[: len(whole) // 2])
    # resumed by two processes: one batch is left, so the second process has nothing to do
    summary = tmp_path / "r.json"
    resumed = ok(
        _finish(
            launch(2, out, "--json", str(summary), worker=True, **STUB, SARA_TEST_FAULT="count")
        )
    )
    assert "4 of 6 answers done, 2 left; 1 half-written line(s) ignored" in resumed.stderr
    assert "generating 2 answers on 2 processes in 1 batch" in resumed.stderr
    assert sorted(re.findall(r"decoded answers: (\d+)", resumed.stderr)) == ["0", "2"]
    assert answers(out) == answers(runs / "one")
    got = json.loads(summary.read_text())
    assert [got[k] for k in ("resumed", "generated", "rows", "processes")] == [4, 2, 6, 2]


def test_a_failing_process_fails_the_launch_with_its_error_once(tmp_path):
    proc = _finish(launch(2, tmp_path / "fail", worker=True, SARA_TEST_FAULT="fail-rank-1"))
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert text.count("injected failure in process 1") == 1, text[-3000:]
    assert "evaluate (process 1 of 2): injected failure in process 1" in text
