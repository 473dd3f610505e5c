"""A run's answers over several ranks, kept on disk and resumed (sara_core.evaluation.answers),
on tiny random models; ranks are threads here (tests/thread_shards.py), real processes in
test_sharded_run.py."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import make_tiny_lm
from thread_shards import run_ranks

from sara_core.distributed import QuietExit
from sara_core.evaluation import generate
from sara_core.evaluation.answers import generate_run
from sara_core.evaluation.config import EvalConfig
from sara_core.evaluation.store import PartWriter
from sara_core.validation import InputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LAYERS = [1, 2]
CFG = EvalConfig(
    dilemmas=["parent_criminal"],
    reps=1,
    baseline_reps=2,
    max_new_tokens=5,
    batch_size=3,
    extra_methods=["control"],
)  # 2 originals + 2 stances x 2 layers x 2 methods + 2 layers of control: 4 batches of 3


def plain(rows):
    """The rows without their timing (the only field that may differ between runs)."""
    return [replace(r, seconds=0.0) for r in rows]


@pytest.fixture
def decoded(monkeypatch):
    """Counts the answers decoded, per rank (thread name)."""
    counts: dict[str, int] = {}
    real = generate.answer_batch

    def counting(lm, cfg, plan):
        import threading

        name = threading.current_thread().name
        counts[name] = counts.get(name, 0) + len(plan)
        return real(lm, cfg, plan)

    monkeypatch.setattr(generate, "answer_batch", counting)
    return counts


def in_ranks(world, cfg, out, other_cfg=None):
    """generate_run on ``world`` thread ranks, each with its own copy of the tiny model (built
    here, in one thread: the weights come from the global RNG); rank 1 may get ``other_cfg``;
    ``out`` may be a list of folders, one per rank (machines that share no folder)."""
    models = [make_tiny_lm() for _ in range(world)]

    def work(shard):
        mine = other_cfg if other_cfg is not None and shard.rank == 1 else cfg
        folder = out[shard.rank] if isinstance(out, list) else out
        return generate_run(models[shard.rank], mine, LAYERS, folder, shard, progress=False)

    return run_ranks(world, work)


def one_rank(tmp_path, cfg=CFG, **kw):
    return generate_run(make_tiny_lm(), cfg, LAYERS, tmp_path, progress=False, **kw)


def test_ranks_make_the_answers_of_one_process_each_decoding_its_share(tmp_path, decoded):
    alone = one_rank(tmp_path / "one")
    assert alone.total == 12 and alone.generated == 12 and len({r.answer for r in alone.rows}) > 3
    decoded.clear()
    for world in (2, 3):
        out = tmp_path / f"world{world}"
        results = in_ranks(world, CFG, out)
        main, *others = results
        assert plain(main.rows) == plain(alone.rows) and main.processes == world
        assert all(r.rows == [] for r in others)
        # the batches are dealt round-robin: every rank decodes, nobody anything twice
        assert sum(decoded.values()) == 12 and len(decoded) == world
        decoded.clear()
        assert [p.name for p in out.glob("answers*.jsonl")] == ["answers.jsonl"]


def test_more_ranks_than_batches_still_finish(tmp_path):
    results = in_ranks(3, replace(CFG, batch_size=64), tmp_path)
    assert len(results[0].rows) == 12 and results[1].rows == results[2].rows == []


def test_ranks_with_other_settings_are_refused_before_any_work(tmp_path, decoded):
    main, other = in_ranks(2, CFG, tmp_path, replace(CFG, max_new_tokens=6))
    assert isinstance(main, InputError) and "process 1 differs from process 0" in str(main)
    assert "max_new_tokens" in str(main) and isinstance(other, QuietExit)
    assert not decoded and not list(tmp_path.glob("answers*"))


def test_a_stopped_run_resumes_with_only_the_missing_answers(tmp_path, monkeypatch, decoded):
    whole = one_rank(tmp_path / "whole")
    real_append = PartWriter.append
    calls = []

    def append_then_stop(self, rows):
        real_append(self, rows)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a kill after the second batch

    monkeypatch.setattr(PartWriter, "append", append_then_stop)
    with pytest.raises(KeyboardInterrupt):
        one_rank(tmp_path / "run")
    monkeypatch.setattr(PartWriter, "append", real_append)
    decoded.clear()
    resumed = one_rank(tmp_path / "run")
    assert (resumed.resumed, resumed.generated) == (6, 6) and sum(decoded.values()) == 6
    assert plain(resumed.rows) == plain(whole.rows)
    decoded.clear()
    again = one_rank(tmp_path / "run")
    assert (again.resumed, again.generated, sum(decoded.values())) == (12, 0, 0)
    assert plain(again.rows) == plain(whole.rows)


def test_other_settings_in_the_folder_need_overwrite(tmp_path):
    one_rank(tmp_path)
    other = replace(CFG, seed=7)
    with pytest.raises(InputError, match=r"other settings \(seed\).*--overwrite"):
        one_rank(tmp_path, other)
    fresh = one_rank(tmp_path, other, overwrite=True)
    assert fresh.resumed == 0 and fresh.generated == 12
    assert {r.seed for r in fresh.rows} == {7, 8}  # the new seeds


def test_machines_that_share_no_folder_resume_from_what_each_one_holds(tmp_path, monkeypatch):
    whole = one_rank(tmp_path / "whole")
    folders = [tmp_path / "machine0", tmp_path / "machine1"]
    real_append = PartWriter.append

    def main_stops_after_one_batch(self, rows):
        real_append(self, rows)
        if self.path.parent == folders[0]:
            raise KeyboardInterrupt  # the main machine's job is killed after its first batch

    monkeypatch.setattr(PartWriter, "append", main_stops_after_one_batch)
    first = in_ranks(2, CFG, folders)
    assert isinstance(first[0], KeyboardInterrupt)
    monkeypatch.setattr(PartWriter, "append", real_append)
    main, other = in_ranks(2, CFG, folders)
    assert main.resumed > 3 and other.rows == []  # the other machine's answers counted as done
    assert plain(main.rows) == plain(whole.rows)  # and were sent to the main process
    assert [p.name for p in folders[0].glob("answers*")] == ["answers.jsonl"]
