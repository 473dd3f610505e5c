"""Find a setting: search blocks x strengths for SARA and ActAdd, with a coherence guard.

For the user's own dilemma and stance, every point of a coarse grid (then a few points refined
around each method's best admissible one) gets:

* an **effect**: how much more the steered model, after the dilemma, prefers to continue with
  the attract text over the repel text than the unsteered model does (sara_core.tune.score);
* a short greedy **answer**, its perplexity under the unsteered model and its repetition;
* the **guard**: admissible when that perplexity is at most ``max_ppl_ratio`` times the
  unsteered answer's and the answer does not loop (sara_core.tune.grid.check_answer).

The prompted baseline (the attract text as an instruction before the question, no steering) is
measured the same way. Points run as rows of batches of at most ``rows_per_chunk``
(:func:`~sara_core.engine.decoding.decode_rows`,
:func:`~sara_core.engine.decoding.score_continuations`), each call taking the model's lock for one
batch only, so other requests interleave between chunks. Setting ``stop`` ends the search at the
next chunk; the result holds the points finished so far.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.distributed import Shard
from sara_core.engine.compare import settings_row
from sara_core.engine.decoding import Continuation, decode_rows, score_continuations
from sara_core.engine.planning import ComparePlan, plan_compare
from sara_core.engine.row import STOPPED, Row
from sara_core.models.loading import LoadedModel
from sara_core.prompts import decode
from sara_core.steering.interface import Steering
from sara_core.tune.grid import (
    DEFAULT_MAX_PPL_RATIO,
    METHODS,
    TuneGrid,
    check_answer,
    check_grid,
    check_methods,
    check_ratio,
    default_grid,
    refine_candidates,
)
from sara_core.tune.result import TunePoint, TuneResult, choose
from sara_core.tune.score import (
    HeldOut,
    Probe,
    SteeringFactory,
    continuation_ids,
    mean,
    preferences,
)
from sara_core.validation import MAX_NEW_TOKENS, as_int

Progress = Callable[[int, int, str], None]
"""progress(done, total, description), called after every chunk."""

DEFAULT_NEW_TOKENS = 24
"""Length of each point's greedy answer: long enough to read coherence, short enough to batch."""
MAX_TUNE_NEW_TOKENS = 64
ROWS_PER_CHUNK = 8
"""Answers decoded per batch: 8 x 24 row-steps, less than one compare's 3 x 80."""


class _Search:
    """The state of one search: the plan, the baselines' figures, the clock and the progress."""

    def __init__(
        self,
        lm: LoadedModel,
        plan: ComparePlan,
        held: HeldOut | None,
        max_ppl_ratio: float,
        rows_per_chunk: int,
        stop: threading.Event,
        progress: Progress | None,
        held_out_all: bool = True,
        shard: Shard | None = None,
    ):
        self.lm, self.plan, self.max_ratio = lm, plan, max_ppl_ratio
        self.shard = shard or Shard()
        self.chunk, self.stop, self.progress = rows_per_chunk, stop, progress
        self.settings = plan.settings
        self.ids = plan.input_ids[0].tolist()
        self.prompted_ids = plan.prompted_ids[0].tolist() if plan.prompted_ids is not None else []
        toward = continuation_ids(lm, plan.texts.attract)
        away = continuation_ids(lm, plan.texts.repel)
        self.main = Probe(self.ids, toward, away)
        self.prompted_main = Probe(self.prompted_ids, toward, away)
        self.probes = held.probes(lm) if held else []
        self.held_out_all = held_out_all
        self.prompted_probes = held.probes(lm, plan.instruction) if held else []
        self.factory = SteeringFactory(lm, plan.texts, plan.config)
        self.base_effect = self.base_held = 0.0
        self.reference = math.nan
        self.done = self.total = 0
        self.decode_s = self.score_s = 0.0

    def tick(self, desc: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, desc)

    def _decode(self, rows: list[Row]) -> bool:
        """Decode ``rows``; False when the stop event cut them short."""
        t = time.perf_counter()
        decode_rows(self.lm, rows)
        self.decode_s += time.perf_counter() - t
        return not any(r.finish == STOPPED for r in rows)

    def _score(self, items: list[Continuation]) -> list[list[float]]:
        t = time.perf_counter()
        out = score_continuations(self.lm, items, max_rows=2 * self.chunk) if items else []
        self.score_s += time.perf_counter() - t
        return out

    def _perplexities(self, rows: Sequence[Row]) -> list[float]:
        """Each answer's perplexity under the unsteered model, after the plain dilemma."""
        scored = iter(
            self._score([Continuation(self.ids, list(r.tokens)) for r in rows if r.tokens])
        )
        return [math.exp(-mean(next(scored))) if r.tokens else math.nan for r in rows]

    def _held_out(
        self, steerings: Sequence[Sequence[Steering]], probes: list[Probe]
    ) -> list[float]:
        """Per steering set: the mean held-out preference minus the unsteered one."""
        items = [c for s in steerings for p in probes for c in p.items(s)]
        prefs = preferences(self._score(items))
        n = len(probes)
        return [mean(prefs[i * n : (i + 1) * n]) - self.base_held for i in range(len(steerings))]

    def _point(
        self,
        key: tuple[str, int | None, float | None],
        stage: str,
        row: Row,
        effect: float,
        ppl: float,
    ) -> TunePoint:
        answer = decode(self.lm, row.tokens)
        c = check_answer(answer, ppl, self.reference, self.plan.texts.prompt, self.max_ratio)
        return TunePoint(
            *key,
            stage,
            effect,
            c.perplexity,
            c.ppl_ratio,
            c.repetition,
            c.collapse,
            c.admissible,
            answer,
        )

    def baselines(self) -> tuple[TunePoint, TunePoint] | None:
        """The unsteered and prompted answers and effects; None when stopped meanwhile."""
        rows = [
            settings_row(self.settings, p, (), self.stop) for p in (self.ids, self.prompted_ids)
        ]
        if not self._decode(rows):
            return None
        items = self.main.items() + self.prompted_main.items()
        items += [c for p in self.probes for c in p.items()]
        prefs = preferences(self._score(items))
        self.base_effect = prefs[0]
        self.base_held = mean(prefs[2:]) if self.probes else 0.0
        ppl = self._perplexities(rows)
        self.reference = ppl[0]
        unsteered = self._point(("unsteered", None, None), "baseline", rows[0], 0.0, ppl[0])
        prompted = self._point(
            ("prompted", None, None), "baseline", rows[1], prefs[1] - self.base_effect, ppl[1]
        )
        if self.probes:
            unsteered.held_out_effect = 0.0
            prompted.held_out_effect = self._held_out([()], self.prompted_probes)[0]
        return unsteered, prompted

    def evaluate(self, points: Sequence[tuple[str, int, float]], stage: str) -> list[TunePoint]:
        """Decode, score and guard one chunk of points; [] when stopped meanwhile."""
        steer = [(self.factory.make(m, layer, c),) for m, layer, c in points]
        rows = [settings_row(self.settings, self.ids, s, self.stop) for s in steer]
        if not self._decode(rows):
            return []
        prefs = preferences(self._score([c for s in steer for c in self.main.items(s)]))
        ppl = self._perplexities(rows)
        out = [
            self._point(key, stage, row, pref - self.base_effect, p)
            for key, row, pref, p in zip(points, rows, prefs, ppl, strict=True)
        ]
        ok = [i for i, p in enumerate(out) if p.admissible]
        if self.probes and self.held_out_all and ok and not self.stop.is_set():
            held = self._held_out([steer[i] for i in ok], self.probes)
            for i, value in zip(ok, held, strict=True):
                out[i].held_out_effect = value
        return out

    def held_out_chosen(self, chosen: Sequence[TunePoint | None]) -> None:
        """The held-out preference of chosen points that do not have one yet."""
        todo = [p for p in chosen if p is not None and p.held_out_effect is None]
        if not self.probes or not todo or self.stop.is_set():
            return
        steer = [(self.factory.make(p.method, p.layer, p.coeff),) for p in todo]  # type: ignore[arg-type]
        for p, value in zip(todo, self._held_out(steer, self.probes), strict=True):
            p.held_out_effect = value
        self.tick("held-out check of the chosen points")

    def run(self, points: list[tuple[str, int, float]], stage: str) -> list[TunePoint]:
        """Evaluate ``points`` chunk by chunk, releasing the model between chunks. With several
        processes each takes every N-th chunk and all of them get every point, in order."""
        chunks = [points[lo : lo + self.chunk] for lo in range(0, len(points), self.chunk)]
        mine: dict[int, list[TunePoint]] = {}
        for c in self.shard.mine(range(len(chunks))):
            if self.stop.is_set():
                break
            mine[c] = self.evaluate(chunks[c], stage)
            self.tick(f"{stage}: chunk {c + 1} of {len(chunks)} ({len(points)} points)")
        if self.shard.world == 1:
            return [p for c in sorted(mine) for p in mine[c]]
        found: dict[int, list[TunePoint]] = {}
        for part in self.shard.all_gather(mine):
            found.update(part)
        self.done += len(chunks) - len(mine)
        return [p for c in sorted(found) for p in found[c]]


def _refine(
    grid: TuneGrid, methods: Sequence[str], points: Sequence[TunePoint], n_layers: int, room: int
) -> list[tuple[str, int, float]]:
    """Up to ``grid.refine`` points per method around its best admissible coarse point."""
    out: list[tuple[str, int, float]] = []
    for m in methods:
        best = choose(points, m)
        if best is None or best.layer is None or best.coeff is None:
            continue
        done = {(p.layer, p.coeff) for p in points if p.method == m and p.layer is not None}
        found = refine_candidates(
            (best.layer, best.coeff),
            grid.layers,
            grid.coeffs(m),
            n_layers,
            done,  # type: ignore[arg-type]
        )
        out += [(m, layer, c) for layer, c in found[: grid.refine]]
    return out[: max(0, room)]


def tune(
    lm: LoadedModel,
    prompt: str,
    attract: str,
    repel: str,
    *,
    methods: Sequence[str] | str = METHODS,
    grid: TuneGrid | None = None,
    quick: bool = False,
    max_new_tokens: int = DEFAULT_NEW_TOKENS,
    max_ppl_ratio: float = DEFAULT_MAX_PPL_RATIO,
    max_points: int | None = None,
    held_out: HeldOut | None = None,
    held_out_all: bool | None = None,
    config: SteeringConfig | None = None,
    rows_per_chunk: int = ROWS_PER_CHUNK,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    shard: Shard | None = None,
) -> TuneResult:
    """Search blocks x strengths for ``methods`` on ``prompt`` steered by (attract, repel).

    ``grid`` defaults to :func:`~sara_core.tune.grid.default_grid` (``quick`` or full);
    ``max_points`` caps the coarse and refined points together; ``held_out`` adds the held-out
    preference (sara_core.tune.score.held_out_for) to the baselines, the chosen points and, with
    ``held_out_all`` (default: not ``quick``), every admissible point.
    ``config`` sets SARA's k, sign and scope and ActAdd's mode (its layer and strengths are
    ignored). Bad input raises InputError before any work, with compare's messages.
    With ``shard`` (a torchrun / accelerate launch) the chunks of points are split over its
    processes; every process gets the same result.
    """
    t0 = time.perf_counter()
    methods = check_methods(methods)
    grid = check_grid(grid or default_grid(lm.n_layers, quick), lm.n_layers, methods, max_points)
    cap = max_points if max_points is not None else 10**9
    ratio = check_ratio(max_ppl_ratio)
    tokens = as_int("max_new_tokens", max_new_tokens, 1, min(MAX_TUNE_NEW_TOKENS, MAX_NEW_TOKENS))
    chunk = as_int("rows_per_chunk", rows_per_chunk, 1, 64)
    plan = _plan(lm, prompt, attract, repel, config, grid.layers[0], tokens)
    stop = stop or threading.Event()
    coarse = grid.coarse_points(methods)
    every = (not quick) if held_out_all is None else bool(held_out_all)
    search = _Search(lm, plan, held_out, ratio, chunk, stop, progress, every, shard)
    search.total = 1 + math.ceil(len(coarse) / chunk) + (1 if held_out and not every else 0)
    if progress is not None:
        progress(0, search.total, "answering unsteered and prompted")
    result = TuneResult(
        lm.name,
        plan.texts.prompt,
        plan.texts.attract,
        plan.texts.repel,
        settings=_settings_record(
            methods, grid, quick, tokens, ratio, max_points, chunk, held_out, plan
        ),
    )
    shared = {"model": lm.name, "dtype": lm.dtype_label, "device": lm.device.type}
    texts = [plan.texts.prompt, plan.texts.attract, plan.texts.repel]
    search.shard.agree({**shared, "texts": texts, **result.settings}, "the search's settings")
    base_points = search.baselines()
    if base_points is not None:
        result.unsteered, result.prompted = base_points
        search.tick("baselines")
        _run_points(search, result, grid, methods, coarse, cap - len(coarse))
    result.stopped = stop.is_set()
    result.timing = {
        "total_s": round(time.perf_counter() - t0, 2),
        "decode_s": round(search.decode_s, 2),
        "score_s": round(search.score_s, 2),
        "points": len(result.points),
        "answers": len(result.points) + (2 if base_points else 0),
        "processes": search.shard.world,
    }
    return result


def _plan(
    lm: LoadedModel,
    prompt: str,
    attract: str,
    repel: str,
    config: SteeringConfig | None,
    layer: int,
    tokens: int,
) -> ComparePlan:
    """Check the texts and plan one comparison at ``layer`` with ``config``'s k, sign, scope and
    ActAdd mode (unit strengths; every point sets its own)."""
    base = config or SteeringConfig()
    steering = SteeringConfig(layer, base.k, 1.0, 1.0, base.scope, base.sign, base.actadd_mode)
    return plan_compare(
        lm,
        prompt,
        attract,
        repel,
        steering,
        GenerationSettings(max_new_tokens=tokens),
        prompted=True,
    )


def _settings_record(
    methods: Sequence[str],
    grid: TuneGrid,
    quick: bool,
    tokens: int,
    ratio: float,
    max_points: int | None,
    chunk: int,
    held_out: HeldOut | None,
    plan: ComparePlan,
) -> dict:
    """The search's settings as the result records them (and every process agrees on)."""
    return {
        "methods": list(methods),
        "layers": list(grid.layers),
        "sara_coeffs": list(grid.sara_coeffs),
        "actadd_coeffs": list(grid.actadd_coeffs),
        "refine": grid.refine,
        "quick": quick,
        "max_new_tokens": tokens,
        "max_ppl_ratio": ratio,
        "max_points": max_points,
        "rows_per_chunk": chunk,
        "held_out": held_out.describe() if held_out else None,
        **{
            k: v
            for k, v in asdict(plan.config).items()
            if k in ("k", "sign", "scope", "actadd_mode")
        },
    }


def _run_points(
    search: _Search,
    result: TuneResult,
    grid: TuneGrid,
    methods: Sequence[str],
    coarse: list[tuple[str, int, float]],
    room: int,
) -> None:
    """The coarse points, up to ``room`` refined ones (unless stopped), then the held-out
    preference of the chosen points."""
    result.points = search.run(coarse, "coarse")
    extra = _refine(grid, methods, result.points, search.lm.n_layers, room)
    if extra and not search.stop.is_set():
        search.total += math.ceil(len(extra) / search.chunk)
        result.points += search.run(extra, "refine")
    search.held_out_chosen(list(result.chosen.values()))
