"""``python -m sara_core judge --in ANSWERS.jsonl --out VERDICTS.jsonl``: label answers offline.

Input rows: ``id`` (text or number, unique), ``answer`` (text) and optionally ``dilemma`` (the
text answered, or a bundled dilemma's id such as ``parent_criminal``, which is what the
evaluation's rows carry: it is replaced by that dilemma's text; it turns on the echo and
off-topic rules). A value written like an id that names no bundled dilemma is refused: compared
as text, its few letters would make every answer look off-topic. Output rows: the same ids, in
the same order, with ``school``, ``group``, ``coherent``, ``confidence`` and ``reason``. Bad
input prints one line on stderr and returns 2.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sara_core.evaluation.jsonl import read_jsonl, text_field, write_jsonl
from sara_core.evaluation.judges.judge import (
    BUILT_IN,
    DEFAULT_JUDGE,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_TIMEOUT_S,
    Judge,
    Verdict,
)
from sara_core.models.options import offline_unless_hub
from sara_core.validation import InputError, as_float, short_repr

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.models.loading import LoadedModel

API_KEY_ENV = "SARA_JUDGE_API_KEY"
"""Environment variable holding the chat endpoint's API key (read once, at the entry point)."""
MAX_ANSWER_CHARS = 20_000
MAX_DILEMMA_CHARS = 8_000
MAX_ID_CHARS = 200
MAX_INPUT_ROWS = 20_000
MAX_INPUT_BYTES = 20_000_000


@dataclass(frozen=True)
class JudgeInput:
    """One answer to judge, as read from the input file."""

    id: str | int
    answer: str
    dilemma: str | None


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose and tune the judge (shared by ``judge`` and ``evaluate``)."""
    parser.add_argument(
        "--judge",
        default=DEFAULT_JUDGE,
        help=f"{', '.join(BUILT_IN)} or a transformers model's hub id or folder "
        f"(default {DEFAULT_JUDGE}: offline MiniLM embeddings)",
    )
    parser.add_argument(
        "--judge-model",
        default=None,
        help="with --judge-url: the endpoint's model; else another encoder folder "
        "(prototype/fitted) or causal LM (lm)",
    )
    parser.add_argument(
        "--judge-url",
        default=None,
        help=f"an OpenAI-compatible chat endpoint (API key from ${API_KEY_ENV}); off by default",
    )
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=DEFAULT_MIN_CONFIDENCE,
        help="below this group probability the answer is Unclassifiable (default 0.5)",
    )


def judge_from_args(
    args: argparse.Namespace, api_key: str | None, lm: LoadedModel | None = None
) -> Judge:
    """The judge the options describe (the model loads here: check inputs first)."""
    from sara_core.evaluation.judges.judge import build_judge

    return build_judge(
        args.judge,
        lm=lm,
        judge_model=args.judge_model,
        min_confidence=as_float("--min-confidence", args.min_confidence, 0.0, 1.0),
        url=args.judge_url,
        api_key=api_key,
        dtype=getattr(args, "judge_dtype", None),
        timeout=as_float(
            "--judge-timeout", getattr(args, "judge_timeout", DEFAULT_TIMEOUT_S), 1.0, 86_400.0
        ),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m sara_core judge``."""
    parser.description = (
        "Label answers with an ethical school and group, or Unclassifiable when they are "
        "collapsed, off-topic, non-answers or the judge is unsure."
    )
    parser.add_argument("--in", dest="inp", required=True, help="JSONL: id, answer[, dilemma]")
    parser.add_argument("--out", required=True, help="JSONL written: id, school, group, ...")
    add_judge_arguments(parser)
    parser.add_argument(
        "--judge-dtype",
        default=None,
        help="the judge model's weights when it is a language model: auto (default), float32, "
        "bfloat16, float16 or int8 (CPU: int8 weights, float32 arithmetic)",
    )
    parser.add_argument(
        "--judge-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"with --judge-url: seconds each answer may take (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


ID_LIKE = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A dilemma value with no space and only these characters is an id, not a dilemma's text."""


def dilemma_text(value: str, where: str, bundled: dict[str, str]) -> str:
    """The text of ``value``: itself when it is a text, the bundled dilemma's when it is an id."""
    if not ID_LIKE.fullmatch(value.strip()):
        return value
    key = value.strip().casefold()
    if key not in bundled:
        raise InputError(
            f"{where}: 'dilemma' {short_repr(value)} is no bundled dilemma id "
            f"({', '.join(sorted(bundled))}); give the dilemma's text or one of those ids"
        )
    return bundled[key]


def parse_inputs(rows: list[dict[str, Any]], source: str) -> list[JudgeInput]:
    """Checked input rows: unique ids, bounded texts, dilemma ids resolved to their texts."""
    from sara_core.presets.dilemmas import load_dilemmas

    out, seen = [], set()
    bundled: dict[str, str] = {}
    for n, row in enumerate(rows, 1):
        where = f"{source}, row {n}"
        rid = row.get("id")
        if isinstance(rid, bool) or not isinstance(rid, str | int) or str(rid) == "":
            raise InputError(f"{where}: 'id' must be a non-empty text or number, got {rid!r}")
        if len(str(rid)) > MAX_ID_CHARS:
            raise InputError(f"{where}: 'id' is over {MAX_ID_CHARS} characters")
        if rid in seen:
            raise InputError(f"{where}: id {short_repr(rid)} appears twice")
        seen.add(rid)
        answer = text_field(row, "answer", where) or ""
        dilemma = text_field(row, "dilemma", where, required=False)
        if len(answer) > MAX_ANSWER_CHARS:
            raise InputError(f"{where}: 'answer' is over {MAX_ANSWER_CHARS} characters")
        if dilemma is not None and len(dilemma) > MAX_DILEMMA_CHARS:
            raise InputError(f"{where}: 'dilemma' is over {MAX_DILEMMA_CHARS} characters")
        if dilemma is not None and ID_LIKE.fullmatch(dilemma.strip()):
            bundled = bundled or {d.id.casefold(): d.text for d in load_dilemmas()}
            dilemma = dilemma_text(dilemma, where, bundled)
        out.append(JudgeInput(rid, answer, dilemma))
    return out


def judge_with_progress(judge: Judge, items: list[JudgeInput], enabled: bool) -> list[Verdict]:
    """The verdicts, with a bar on stderr (answers done of all, rate, time left)."""
    from sara_core.progress import progress_bar

    bar = progress_bar(len(items), "judge", enabled)
    try:
        return judge.judge([i.answer for i in items], [i.dilemma for i in items], bar.update)
    finally:
        bar.close()


def run_cli(args: argparse.Namespace) -> int:
    """Entry point of ``python -m sara_core judge``; returns the exit code."""
    from sara_core.evaluation.judges.api import JudgeError

    # a hub model loads where the network allows; otherwise the hub stays off
    offline_unless_hub(os.environ, getattr(args, "judge_model", None))
    api_key = os.environ.get(API_KEY_ENV) or None  # read once, here
    try:
        rows = read_jsonl(args.inp, max_bytes=MAX_INPUT_BYTES, max_rows=MAX_INPUT_ROWS)
        items = parse_inputs(rows, args.inp)
        judge = judge_from_args(args, api_key)
        verdicts = judge_with_progress(judge, items, not getattr(args, "no_progress", False))
    except (InputError, JudgeError, RuntimeError) as exc:
        print(f"judge: {str(exc).splitlines()[0] if str(exc) else exc!r}", file=sys.stderr)
        return 2
    write_jsonl(
        args.out, ({"id": i.id, **v.to_json()} for i, v in zip(items, verdicts, strict=True))
    )
    unclassified = sum(v.school == "Unclassifiable" for v in verdicts)
    print(
        f"judged {len(items)} answers with {judge.name} (min confidence {judge.min_confidence}): "
        f"{unclassified} Unclassifiable, written to {args.out}",
        file=sys.stderr,
    )
    return 0
