"""The answers kept on disk as they are made (sara_core.evaluation.store)."""

from __future__ import annotations

import json
import os
import resource

import pytest

from sara_core.evaluation import store as S
from sara_core.validation import InputError

FP = "f" * 16


def rows(*names: str, size: int = 10) -> list[tuple[str, dict]]:
    return [(n, {"answer": n * size, "perplexity": float("nan"), "layer": 3}) for n in names]


def test_appended_rows_read_back_by_key_nan_as_null(tmp_path):
    with S.PartWriter(tmp_path, 0, FP) as w:
        w.append(rows("a", "b"))
        w.append(rows("c"))
        assert w.written == 3
    line = (tmp_path / "answers-000.jsonl").read_text().splitlines()[0]
    assert json.loads(line)["row"]["perplexity"] is None  # strict JSON, no NaN
    got = S.read_folder(tmp_path, FP)
    assert list(got.rows) == ["a", "b", "c"] and got.partial == 0
    assert got.rows["c"]["answer"] == "c" * 10
    assert S.read_folder(tmp_path, "another-run").rows == {}  # other settings' lines never count


def test_a_half_written_last_line_is_ignored_then_cut_before_appending(tmp_path):
    with S.PartWriter(tmp_path, 1, FP) as w:
        w.append(rows("a", "b"))
    path = tmp_path / "answers-001.jsonl"
    whole = S.encode_line("c", FP, {"answer": "ccc"})
    with path.open("ab") as fh:
        fh.write(whole[: len(whole) // 2])
    got = S.read_folder(tmp_path, FP)
    assert list(got.rows) == ["a", "b"] and got.partial == 1
    with S.PartWriter(tmp_path, 1, FP) as w:  # reopening cuts the half line off
        w.append(rows("c"))
    got = S.read_folder(tmp_path, FP)
    assert list(got.rows) == ["a", "b", "c"] and got.partial == 0 and got.unreadable == 0
    assert S.cut_partial_line(path) == 0
    # all of a line but its newline is still a line written halfway: not merged, cut
    last = S.encode_line("d", FP, {"answer": "ddd"})
    with path.open("ab") as fh:
        fh.write(last[:-1])
    assert list(S.read_folder(tmp_path, FP).rows) == ["a", "b", "c"]
    assert S.cut_partial_line(path) == len(last) - 1


def test_unreadable_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "answers-000.jsonl"
    good = S.encode_line("a", FP, {"answer": "x"})
    path.write_bytes(b"not json\n" + good + b'{"key": 3, "fp": "' + FP.encode() + b'"}\n')
    got = S.read_folder(tmp_path, FP)
    assert list(got.rows) == ["a"] and got.unreadable == 2


def test_merge_keeps_one_file_in_the_given_order(tmp_path):
    for rank, names in ((0, "ac"), (1, "b")):
        with S.PartWriter(tmp_path, rank, FP) as w:
            w.append(rows(*names))
    got = S.read_folder(tmp_path, FP)
    S.merge(tmp_path, FP, ((k, got.rows[k]) for k in "abc"))
    assert [p.name for p in tmp_path.iterdir()] == ["answers.jsonl"]
    assert list(S.read_folder(tmp_path, FP).rows) == ["a", "b", "c"]


def test_a_folder_with_other_settings_is_refused_unless_overwrite(tmp_path):
    S.prepare_folder(tmp_path, FP, {"seed": 1, "reps": 2})
    with S.PartWriter(tmp_path, 0, FP) as w:
        w.append(rows("a"))
    S.prepare_folder(tmp_path, FP, {"seed": 1, "reps": 2})  # same run: resumes
    assert list(S.read_folder(tmp_path, FP).rows) == ["a"]
    with pytest.raises(InputError) as err:
        S.prepare_folder(tmp_path, "0" * 16, {"seed": 2, "reps": 2})
    message = str(err.value)
    assert "other settings (seed)" in message and "--overwrite" in message
    assert "\n" not in message
    assert list(S.read_folder(tmp_path, FP).rows) == ["a"]  # nothing touched
    S.prepare_folder(tmp_path, "0" * 16, {"seed": 2, "reps": 2}, overwrite=True)
    assert not list(tmp_path.glob("answers*.jsonl"))
    assert json.loads((tmp_path / "run.json").read_text())["fingerprint"] == "0" * 16


def test_answers_without_a_run_file_are_refused(tmp_path):
    (tmp_path / "answers.jsonl").write_text("")
    with pytest.raises(InputError, match="answers of an unknown run"):
        S.prepare_folder(tmp_path, FP, {})


def test_a_full_disk_keeps_every_complete_row_and_the_rerun_resumes(tmp_path):
    """The file-size limit makes the kernel fail a write partway, as a full disk does."""
    batch1, batch2, batch3 = rows("a", "b", size=300), rows("c", "d", size=300), rows("e")
    first = len(b"".join(S.encode_line(k, FP, r) for k, r in batch1))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child writes under the limit and reports what it was told
        code = 1
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (first + 400, first + 400))
            w = S.PartWriter(tmp_path, 0, FP)
            w.append(batch1)
            try:
                w.append(batch2)  # 200 of its bytes fit: the rest fails
            except InputError as exc:
                os.write(write_end, str(exc).encode())
                code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    message = os.read(read_end, 10_000).decode()
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0, message
    assert "the disk is full" in message and "run the same command again" in message
    assert (tmp_path / "answers-000.jsonl").stat().st_size == first  # the half batch is gone
    assert list(S.read_folder(tmp_path, FP).rows) == ["a", "b"]
    with S.PartWriter(tmp_path, 0, FP) as w:  # space again: the rerun appends the rest
        w.append(batch2)
        w.append(batch3)
    got = S.read_folder(tmp_path, FP)
    assert list(got.rows) == ["a", "b", "c", "d", "e"] and got.partial == 0
