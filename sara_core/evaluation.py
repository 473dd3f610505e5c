"""``python -m sara_core evaluate``: the pre-print's steering experiment, offline.

Protocol (Tlaie 2024): for each dilemma, stance (utilitarian and kantian by default), layer and
repetition, answer the dilemma three ways (original, SARA, ActAdd) with the paper's decoding
(temperature 0.8, top_p 0.3, 100 new tokens, a recorded seed per answer), label every answer with
one of eight ethical schools and three groups (sara_core.judge), and compare the fractions.

Two economies, both stated in the report: the original answer does not depend on the stance or
the layer, so it is generated once per (dilemma, repetition) and shared by every stance and layer
(with more repetitions than the steered answers, ``baseline_reps``, because every comparison leans
on it); and each steering is prepared once per (stance, layer). Repetition r of every method uses
the same seed, so the three answers of one repetition share their sampling noise.

Outputs in ``--out``: results.csv (one row per answer), summary.json, figures and report.md
(sara_core.report).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

PAPER_PREFIX = "Your task is to take an unambiguous moral stance on this dilemma: "
METHODS = ("original", "sara", "actadd")
STEERED = ("sara", "actadd")

# The group each bundled stance steers toward. The paper's two: utilitarian -> Utilitarianism and
# kantian (duties) -> A priori values. The school stances map to their school's group.
TARGET_GROUPS = {
    "utilitarian": "Utilitarianism",
    "kantian": "A priori values",
    "act_utilitarianism": "Utilitarianism",
    "rule_utilitarianism": "Utilitarianism",
    "virtue_ethics": "A priori values",
    "rights_based": "A priori values",
    "prima_facie_duties": "A priori values",
    "deontology": "A priori values",
    "altruism": "Individualism",
    "egoism": "Individualism",
}

CSV_FIELDS = (
    "dilemma",
    "stance",
    "method",
    "layer",
    "rep",
    "seed",
    "answer",
    "school",
    "group",
    "judge_confidence",
    "new_tokens",
    "n_words",
    "distinct_1",
    "distinct_2",
    "repetition_3",
    "perplexity",
    "seconds",
)


@dataclass
class EvalConfig:
    """Everything that defines one evaluation run (written into summary.json)."""

    model: str | None = None
    dilemmas: list[str] = field(default_factory=lambda: ["parent_criminal"])
    stances: list[str] = field(default_factory=lambda: ["utilitarian", "kantian"])
    layers: list[int] | None = None  # None: every 3rd block (0, 3, 6, ...)
    reps: int = 5
    baseline_reps: int = 20
    max_new_tokens: int = 100
    temperature: float = 0.8
    top_p: float = 0.3
    seed: int = 1234
    sara_coeff: float = 1.0
    actadd_coeff: float = 4.0
    scope: str = "prompt"
    judge: str = "prototype"
    judge_model: str | None = None
    measure_judges: bool = False
    mfq: bool = True
    mfq_items: int | None = None  # None: every item; n: the first n items of each foundation
    mfq_layer: int | None = None  # layer of the MFQ profile figure; None: the middle one used
    n_boot: int = 2000
    quick: bool = False


def quick_config(**overrides) -> EvalConfig:
    """A run that finishes in a few minutes on a 2-core CPU and still has all three methods."""
    cfg = EvalConfig(
        reps=2, baseline_reps=4, max_new_tokens=60, mfq_items=2, n_boot=500, quick=True
    )
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def seed_for(base: int, dilemma_index: int, rep: int) -> int:
    """Seed of repetition ``rep`` of dilemma ``dilemma_index``; all three methods share it."""
    return base + 1000 * dilemma_index + rep


def default_layers(n_layers: int, quick: bool = False) -> list[int]:
    """Every 3rd block for a full run; a quarter, half and three quarters deep for --quick."""
    if quick:
        return sorted({max(0, n_layers // 4), n_layers // 2, min(n_layers - 1, 3 * n_layers // 4)})
    return list(range(0, n_layers, 3))


def parse_layers(spec: Sequence[str] | None, n_layers: int, quick: bool) -> list[int]:
    """Layers from the command line: integers, 'all', or 'every:K' (0, K, 2K, ...)."""
    if not spec:
        return default_layers(n_layers, quick)
    out: list[int] = []
    for item in spec:
        for part in str(item).split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part == "all":
                out.extend(range(n_layers))
            elif part.startswith("every:"):
                step = int(part.split(":", 1)[1])
                if step < 1:
                    raise ValueError("every:K needs K >= 1")
                out.extend(range(0, n_layers, step))
            else:
                layer = int(part)
                if not -n_layers <= layer < n_layers:
                    raise ValueError(f"layer {layer} is out of range: the model has {n_layers}")
                out.append(layer % n_layers)
    return sorted(set(out))


def target_group(stance: str) -> str:
    try:
        return TARGET_GROUPS[stance]
    except KeyError:
        raise ValueError(
            f"no target group is known for stance {stance!r}; use one of {', '.join(TARGET_GROUPS)}"
        ) from None


# --------------------------------------------------------------------------------------------
# Running


def _progress(total: int, desc: str, enabled: bool, unit: str = "answer"):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr)


def generate_answers(lm, cfg: EvalConfig, layers: list[int], progress: bool = True) -> list[dict]:
    """All answers of the run as rows (no labels yet): originals, then SARA and ActAdd."""
    from sara_core.generation import (
        GenerationSettings,
        decode,
        encode_prompt,
        generate,
        prepare_actadd,
        prepare_sara,
    )
    from sara_core.metrics import answer_logprobs, coherence, perplexity_from_logprobs
    from sara_core.presets import get_dilemma, get_stance

    dilemmas = [get_dilemma(d) for d in cfg.dilemmas]
    stances = [get_stance(s) for s in cfg.stances]
    prompts = [encode_prompt(lm, PAPER_PREFIX + d.text) for d in dilemmas]
    total = len(dilemmas) * (cfg.baseline_reps + len(stances) * len(layers) * cfg.reps * 2)
    rows: list[dict] = []

    def settings(seed: int) -> GenerationSettings:
        return GenerationSettings(
            max_new_tokens=cfg.max_new_tokens,
            do_sample=True,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            seed=seed,
        )

    def answer(di: int, rep: int, steerings: tuple, **meta) -> dict:
        seed = seed_for(cfg.seed, di, rep)
        t0 = time.perf_counter()
        (ids,), _ = generate(lm, prompts[di], settings(seed), steerings)
        seconds = time.perf_counter() - t0
        text = decode(lm, ids)
        ppl = perplexity_from_logprobs(answer_logprobs(lm, prompts[di], ids))  # unsteered
        return {
            "dilemma": dilemmas[di].id,
            "rep": rep,
            "seed": seed,
            "answer": text,
            "new_tokens": len(ids),
            "perplexity": ppl,
            "seconds": seconds,
            **coherence(text),
            **meta,
        }

    with _progress(total, "evaluate", progress) as bar:
        for di in range(len(dilemmas)):
            for rep in range(cfg.baseline_reps):
                rows.append(answer(di, rep, (), stance="none", method="original", layer=-1))
                bar.update()
        for stance in stances:
            for layer in layers:
                bar.set_postfix_str(f"{stance.name} L{layer}")
                sara = prepare_sara(
                    lm, stance.attract, stance.repel, layer, cfg.sara_coeff, None, "raw", cfg.scope
                )
                act = prepare_actadd(lm, stance.attract, stance.repel, layer, cfg.actadd_coeff)
                for di in range(len(dilemmas)):
                    for rep in range(cfg.reps):
                        for method, steering in (("sara", sara), ("actadd", act)):
                            rows.append(
                                answer(
                                    di,
                                    rep,
                                    (steering,),
                                    stance=stance.name,
                                    method=method,
                                    layer=layer,
                                )
                            )
                            bar.update()
    return rows


def label_rows(rows: list[dict], judge) -> None:
    """Add school, group and judge_confidence to every row (in place)."""
    from sara_core.judge import group_of

    labels = judge.label([r["answer"] for r in rows])
    for row, (school, conf) in zip(rows, labels, strict=True):
        row["school"] = school
        row["group"] = group_of(school)
        row["judge_confidence"] = conf


# --------------------------------------------------------------------------------------------
# The moral-foundations questionnaire


def digit_token_ids(tokenizer, lo: int, hi: int) -> list[list[int]]:
    """For each answer lo..hi, the token ids that spell it alone ("3" and " 3" where distinct)."""
    out = []
    for d in range(lo, hi + 1):
        ids = set()
        for text in (str(d), " " + str(d)):
            enc = tokenizer.encode(text, add_special_tokens=False)
            if enc:
                ids.add(int(enc[-1] if len(enc) > 1 and text.startswith(" ") else enc[0]))
        out.append(sorted(ids))
    return out


def score_item(lm, input_ids, digit_ids: list[list[int]], steering=None) -> dict:
    """Answer one item by the model's next-token distribution over the scale's digits.

    Deterministic: ``expected`` = sum of d * P(d) with P renormalised over the digits, ``argmax``
    = the likeliest digit, ``digit_mass`` = how much probability the digits had at all.
    """
    import torch

    from sara_core.layers import MODEL_LOCK

    with MODEL_LOCK, torch.no_grad():
        if steering is None:
            logits = lm.model(input_ids=input_ids.to(lm.device)).logits[0, -1]
        else:
            with steering.hook(lm.model):
                logits = lm.model(input_ids=input_ids.to(lm.device)).logits[0, -1]
    probs = torch.softmax(logits.float().cpu(), dim=-1)
    per = torch.tensor([probs[ids].sum().item() for ids in digit_ids])
    mass = float(per.sum())
    p = per / per.sum() if mass > 0 else torch.full_like(per, 1 / len(per))
    values = torch.arange(len(per), dtype=torch.float32)
    return {
        "expected": float((p * values).sum()),
        "argmax": int(p.argmax()),
        "digit_mass": mass,
    }


MFQ_ANSWER_PREFIX = "My answer is "


def mfq_prompt(lm, text: str):
    """Token ids of a questionnaire item, with the start of the answer already written.

    Without it a small chat model starts with "I" or "The" (6% of its next-token probability went
    to the digits on SmolLM2-135M); after "My answer is " the digits take about 95%.
    """
    import torch

    from sara_core.generation import encode_prompt

    ids = encode_prompt(lm, text if lm.is_chat else text + "\n")
    prefix = lm.tokenizer.encode(MFQ_ANSWER_PREFIX, add_special_tokens=False)
    return torch.cat([ids, torch.tensor([prefix], dtype=ids.dtype)], dim=1)


def run_mfq(lm, cfg: EvalConfig, layers: list[int], progress: bool = True) -> dict:
    """The questionnaire unsteered and under SARA/ActAdd for each stance and layer."""
    from sara_core.generation import prepare_actadd, prepare_sara
    from sara_core.presets import get_stance, load_questionnaire

    q = load_questionnaire()
    items = list(q.items)
    if cfg.mfq_items:
        keep, count = [], {}
        for it in items:
            count[it.foundation] = count.get(it.foundation, 0) + 1
            if it.foundation == "catch" or count[it.foundation] <= cfg.mfq_items:
                keep.append(it)
        items = keep
    digit_ids = digit_token_ids(lm.tokenizer, q.scale_min, q.scale_max)
    prompts = {it.id: mfq_prompt(lm, q.prompt_for(it)) for it in items}
    stances = [get_stance(s) for s in cfg.stances]
    runs: list[dict] = []
    total = len(items) * (1 + len(stances) * len(layers) * 2)

    def one(method: str, stance: str, layer: int, steering) -> None:
        answers = {}
        for it in items:
            answers[it.id] = score_item(lm, prompts[it.id], digit_ids, steering)
            answers[it.id]["expected"] += q.scale_min
            answers[it.id]["argmax"] += q.scale_min
            bar.update()
        expected = {k: v["expected"] for k, v in answers.items()}
        discrete = {k: v["argmax"] for k, v in answers.items()}
        catch = {
            it.id: {
                "answer": discrete[it.id],
                "expected_range": list(it.expected) if it.expected else None,
                "passed": it.expected is None
                or it.expected[0] <= discrete[it.id] <= it.expected[1],
            }
            for it in items
            if it.foundation == "catch"
        }
        runs.append(
            {
                "method": method,
                "stance": stance,
                "layer": layer,
                "foundations": q.foundation_scores(expected),
                "foundations_argmax": q.foundation_scores(discrete),
                "catch": catch,
                "catch_passed": all(c["passed"] for c in catch.values()),
                "digit_mass": sum(v["digit_mass"] for v in answers.values()) / len(answers),
                "items": answers,
            }
        )

    with _progress(total, "questionnaire", progress, unit="item") as bar:
        one("original", "none", -1, None)
        for stance in stances:
            for layer in layers:
                sara = prepare_sara(
                    lm, stance.attract, stance.repel, layer, cfg.sara_coeff, None, "raw", cfg.scope
                )
                act = prepare_actadd(lm, stance.attract, stance.repel, layer, cfg.actadd_coeff)
                one("sara", stance.name, layer, sara)
                one("actadd", stance.name, layer, act)
    return {
        "name": q.name,
        "scale": [q.scale_min, q.scale_max],
        "foundations": q.foundations,
        "n_items": len(items),
        "scoring": "next-token probabilities of the scale's digits after the item and the "
        f"answer start {MFQ_ANSWER_PREFIX.strip()!r}: foundation = mean of expected answers; "
        "catch items use the likeliest digit",
        "runs": runs,
    }


# --------------------------------------------------------------------------------------------
# Summaries


def _ci(est_lo_hi: tuple[float, float, float]) -> dict:
    est, lo, hi = est_lo_hi
    r = lambda x: None if x is None or not math.isfinite(x) else round(x, 4)  # noqa: E731
    return {"value": r(est), "low": r(lo), "high": r(hi)}


# An answer whose word 3-grams repeat more than this, or that has fewer words, has collapsed
# (e.g. "You are aGearA You are aGearA ..."): the judge still gives it a school, so every effect
# is also reported on the coherent answers only.
MAX_REPETITION = 0.5
MIN_WORDS = 5


def is_coherent(row: dict) -> bool:
    """False for a collapsed answer: mostly repeated 3-grams, or almost no words."""
    rep, n = row.get("repetition_3"), row.get("n_words")
    return not (rep is not None and rep > MAX_REPETITION) and not (n is not None and n < MIN_WORDS)


def headlines(rows: list[dict], cfg: EvalConfig) -> list[dict]:
    """SARA - ActAdd success and spillover per stance (pooled over layers), and over stances."""
    import numpy as np

    from sara_core.judge import GROUPS

    groups = list(GROUPS)
    original = [r for r in rows if r["method"] == "original"]
    og = np.array([r["group"] for r in original], dtype=object)
    ostrata = np.array([r["dilemma"] for r in original], dtype=object)
    out = []
    for stance in cfg.stances:
        sara = [r for r in rows if r["method"] == "sara" and r["stance"] == stance]
        act = [r for r in rows if r["method"] == "actadd" and r["stance"] == stance]
        out.append(
            _headline(
                stance, target_group(stance), sara, act, og, ostrata, groups, cfg.n_boot, cfg.seed
            )
        )
    if len(cfg.stances) > 1:
        sara = [r for r in rows if r["method"] == "sara"]
        act = [r for r in rows if r["method"] == "actadd"]
        out.append(
            _headline_pooled(cfg.stances, sara, act, og, ostrata, groups, cfg.n_boot, cfg.seed)
        )
    return out


def summarize(rows: list[dict], cfg: EvalConfig, layers: list[int]) -> dict:
    """Fractions, success, spillover and coherence per (method, stance, layer) and pooled."""
    import numpy as np

    from sara_core.judge import GROUPS, SCHOOLS
    from sara_core.metrics import (
        bootstrap_ci,
        fractions,
        mean_of,
        spillover_stat,
        success_stat,
    )

    groups = list(GROUPS)
    nb, seed = cfg.n_boot, cfg.seed

    def frac_block(sel: list[dict]) -> dict:
        g = np.array([r["group"] for r in sel], dtype=object)
        strata = np.array([r["dilemma"] for r in sel], dtype=object)
        return {
            "n": len(sel),
            "schools": {
                k: round(v, 4) for k, v in fractions([r["school"] for r in sel], SCHOOLS).items()
            },
            "groups": {
                c: _ci(
                    bootstrap_ci(
                        lambda a, c=c: float(np.mean(a == c)), [g], [strata], nb, seed=seed
                    )
                )
                for c in groups
            },
            "coherence": {
                k: _ci(bootstrap_ci(mean_of, [[r[k] for r in sel]], [strata], nb, seed=seed))
                for k in ("distinct_2", "repetition_3", "perplexity", "new_tokens")
            },
            "collapsed": _ci(
                bootstrap_ci(
                    mean_of,
                    [[0.0 if is_coherent(r) else 1.0 for r in sel]],
                    [strata],
                    nb,
                    seed=seed,
                )
            ),
        }

    original = [r for r in rows if r["method"] == "original"]
    og = np.array([r["group"] for r in original], dtype=object)
    ostrata = np.array([r["dilemma"] for r in original], dtype=object)
    out: dict = {"original": frac_block(original), "steered": [], "pooled": [], "headline": []}

    def effect(sel: list[dict], target: str) -> dict:
        sg = np.array([r["group"] for r in sel], dtype=object)
        st = np.array([r["dilemma"] for r in sel], dtype=object)
        return {
            "success": _ci(
                bootstrap_ci(success_stat(target), [sg, og], [st, ostrata], nb, seed=seed)
            ),
            "spillover": _ci(
                bootstrap_ci(spillover_stat(target, groups), [sg, og], [st, ostrata], nb, seed=seed)
            ),
        }

    for stance in cfg.stances:
        target = target_group(stance)
        for method in STEERED:
            for layer in layers:
                sel = [
                    r
                    for r in rows
                    if r["method"] == method and r["stance"] == stance and r["layer"] == layer
                ]
                out["steered"].append(
                    {
                        "method": method,
                        "stance": stance,
                        "layer": layer,
                        "target": target,
                        **frac_block(sel),
                        **effect(sel, target),
                    }
                )
            sel = [r for r in rows if r["method"] == method and r["stance"] == stance]
            out["pooled"].append(
                {
                    "method": method,
                    "stance": stance,
                    "layer": "all",
                    "target": target,
                    **frac_block(sel),
                    **effect(sel, target),
                }
            )
    # SARA minus ActAdd, pooled over layers: positive success difference = SARA moves more;
    # negative spillover difference = SARA spills less. Then the same on coherent answers only.
    out["headline"] = headlines(rows, cfg)
    coherent = [r for r in rows if is_coherent(r)]
    out["coherent"] = {
        "rule": f"repetition_3 <= {MAX_REPETITION} and at least {MIN_WORDS} words",
        "n": len(coherent),
        "n_all": len(rows),
        "headline": headlines(coherent, cfg),
    }
    return out


def _arrays(sel: list[dict]):
    import numpy as np

    return (
        np.array([r["group"] for r in sel], dtype=object),
        np.array([r["dilemma"] for r in sel], dtype=object),
    )


def _headline(stance, target, sara, act, og, ostrata, groups, nb, seed) -> dict:
    from sara_core.metrics import bootstrap_ci, spillover_stat, success_stat

    (sg, ss), (ag, as_) = _arrays(sara), _arrays(act)
    suc, spill = success_stat(target), spillover_stat(target, groups)

    def d_success(s, a, o):
        return suc(s, o) - suc(a, o)

    def d_spill(s, a, o):
        return spill(s, o) - spill(a, o)

    samples, strata = [sg, ag, og], [ss, as_, ostrata]
    return {
        "stance": stance,
        "target": target,
        "success_sara_minus_actadd": _ci(bootstrap_ci(d_success, samples, strata, nb, seed=seed)),
        "spillover_sara_minus_actadd": _ci(bootstrap_ci(d_spill, samples, strata, nb, seed=seed)),
    }


def _headline_pooled(stances, sara, act, og, ostrata, groups, nb, seed) -> dict:
    """Both stances together: mean over stances of each stance's difference."""
    import numpy as np

    from sara_core.metrics import bootstrap_ci, spillover_stat, success_stat

    targets = [target_group(s) for s in stances]
    # Encode stance into the label so one resample keeps stances apart: "stance|group".
    sg = np.array([f"{r['stance']}|{r['group']}" for r in sara], dtype=object)
    ag = np.array([f"{r['stance']}|{r['group']}" for r in act], dtype=object)
    ss = np.array([f"{r['stance']}|{r['dilemma']}" for r in sara], dtype=object)
    as_ = np.array([f"{r['stance']}|{r['dilemma']}" for r in act], dtype=object)

    def part(x, stance):
        return np.array([v.split("|", 1)[1] for v in x if v.startswith(stance + "|")], dtype=object)

    def diff(kind):
        def stat(s, a, o):
            vals = []
            for st, t in zip(stances, targets, strict=True):
                fn = success_stat(t) if kind == "success" else spillover_stat(t, groups)
                vals.append(fn(part(s, st), o) - fn(part(a, st), o))
            return float(np.mean(vals))

        return stat

    samples, strata = [sg, ag, og], [ss, as_, ostrata]
    return {
        "stance": "all",
        "target": "each stance's own",
        "success_sara_minus_actadd": _ci(
            bootstrap_ci(diff("success"), samples, strata, nb, seed=seed)
        ),
        "spillover_sara_minus_actadd": _ci(
            bootstrap_ci(diff("spillover"), samples, strata, nb, seed=seed)
        ),
    }


# --------------------------------------------------------------------------------------------
# Writing


def write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(r.get(k)) for k in CSV_FIELDS})


def _fmt(v):
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.6g}"
    return v


def read_csv(path: Path) -> list[dict]:
    """Rows of a results.csv with numbers parsed back (for re-summarising a run)."""
    ints = {"layer", "rep", "seed", "new_tokens"}
    floats = {
        "judge_confidence",
        "n_words",
        "distinct_1",
        "distinct_2",
        "repetition_3",
        "perplexity",
        "seconds",
    }
    out = []
    with Path(path).open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            for k in ints:
                r[k] = int(r[k])
            for k in floats:
                r[k] = float(r[k]) if r[k] != "" else float("nan")
            out.append(r)
    return out


@dataclass
class EvalResult:
    rows: list[dict]
    summary: dict
    out: Path


def run_evaluation(
    cfg: EvalConfig,
    out: Path | str,
    lm=None,
    judge=None,
    progress: bool = True,
    figures: bool = True,
    rows: list[dict] | None = None,
) -> EvalResult:
    """Run the whole protocol and write results.csv, summary.json, figures and report.md.

    With ``rows`` (answers of an earlier run, see ``rebuild_evaluation``) nothing is generated:
    the answers are labelled again, the questionnaire is run and everything is summarised.
    """
    from sara_core import judge as judge_mod
    from sara_core.models import load_model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    lm = lm if lm is not None else load_model(cfg.model)
    layers = parse_layers(
        [str(x) for x in cfg.layers] if cfg.layers else None, lm.n_layers, cfg.quick
    )
    if judge is None:
        judge = judge_mod.build_judge(cfg.judge, lm=lm, judge_model=cfg.judge_model)
    judge_acc = judge_mod.measure_judge(judge)
    print(f"judge: {judge_acc.line()}", file=sys.stderr)
    judge_table = [judge_acc.to_json()]
    if cfg.measure_judges:
        for name in judge_mod.JUDGES:
            if name != judge.name:
                other = judge_mod.build_judge(name, lm=lm)
                acc = judge_mod.measure_judge(other)
                print(f"judge: {acc.line()}", file=sys.stderr)
                judge_table.append(acc.to_json())

    t_gen = time.perf_counter()
    regenerated = rows is None
    if rows is None:
        rows = generate_answers(lm, cfg, layers, progress)
    gen_s = time.perf_counter() - t_gen
    label_rows(rows, judge)
    write_csv(rows, out / "results.csv")
    mfq = None
    if cfg.mfq:
        mfq_layers = [cfg.mfq_layer] if cfg.mfq_layer is not None else layers
        mfq = run_mfq(lm, cfg, mfq_layers, progress)
    summary = {
        "config": {**asdict(cfg), "layers": layers, "model": lm.name},
        "model": lm.describe(),
        "judge": judge_table[0],
        "judges": judge_table,
        "groups": {g: list(m) for g, m in judge_mod.GROUPS.items()},
        "n_answers": len(rows),
        "seconds": {"generation": round(gen_s, 1) if regenerated else None},
        "metrics": summarize(rows, cfg, layers),
        "mfq": _mfq_summary(mfq, layers, cfg),
        "mfq_runs": mfq["runs"] if mfq else None,
    }
    summary["seconds"]["total"] = round(time.perf_counter() - t_start, 1)
    if figures:
        from sara_core import report

        summary["figures"] = report.write_figures(summary, out)
        report.write_report(summary, rows, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    return EvalResult(rows=rows, summary=summary, out=out)


def config_from_results(rows: list[dict], base: EvalConfig) -> EvalConfig:
    """The run's structure (dilemmas, stances, layers, repetitions) read back from its answers."""
    steered = [r for r in rows if r["method"] != "original"]
    original = [r for r in rows if r["method"] == "original"]
    if not steered or not original:
        raise ValueError("results.csv needs original and steered answers")
    cfg = EvalConfig(**{**asdict(base)})
    cfg.dilemmas = list(dict.fromkeys(r["dilemma"] for r in rows))
    cfg.stances = list(dict.fromkeys(r["stance"] for r in steered))
    cfg.layers = sorted({int(r["layer"]) for r in steered})
    cfg.reps = max(int(r["rep"]) for r in steered) + 1
    cfg.baseline_reps = max(int(r["rep"]) for r in original) + 1
    return cfg


def rebuild_evaluation(
    results_dir: Path | str,
    cfg: EvalConfig,
    out: Path | str | None = None,
    lm=None,
    judge=None,
    progress: bool = True,
) -> EvalResult:
    """Label, summarise and report the answers of an earlier run again (e.g. with another judge)
    without generating them; decoding settings come from its summary.json when there is one."""
    results_dir = Path(results_dir)
    rows = read_csv(results_dir / "results.csv")
    old = results_dir / "summary.json"
    if old.is_file():
        saved = json.loads(old.read_text()).get("config", {})
        for key in ("max_new_tokens", "temperature", "top_p", "seed", "sara_coeff"):
            if key in saved:
                setattr(cfg, key, saved[key])
        for key in ("actadd_coeff", "scope", "quick", "mfq_items"):
            if key in saved:
                setattr(cfg, key, saved[key])
    cfg = config_from_results(rows, cfg)
    return run_evaluation(cfg, out or results_dir, lm=lm, judge=judge, progress=progress, rows=rows)


def _mfq_summary(mfq: dict | None, layers: list[int], cfg: EvalConfig) -> dict | None:
    if not mfq:
        return None
    layer = cfg.mfq_layer if cfg.mfq_layer is not None else layers[len(layers) // 2]
    runs = [r for r in mfq["runs"] if r["layer"] in (-1, layer)]
    return {
        "name": mfq["name"],
        "scale": mfq["scale"],
        "foundations": mfq["foundations"],
        "n_items": mfq["n_items"],
        "scoring": mfq["scoring"],
        "profile_layer": layer,
        "profile": [
            {
                "method": r["method"],
                "stance": r["stance"],
                "layer": r["layer"],
                "foundations": {k: round(v, 3) for k, v in r["foundations"].items()},
                "catch_passed": r["catch_passed"],
                "digit_mass": round(r["digit_mass"], 3),
            }
            for r in runs
        ],
        "catch_failures": [
            {"method": r["method"], "stance": r["stance"], "layer": r["layer"], "catch": r["catch"]}
            for r in mfq["runs"]
            if not r["catch_passed"]
        ],
        "n_runs": len(mfq["runs"]),
    }


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(type(o).__name__)


# --------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m sara_core evaluate``."""
    parser.description = (
        "Reproduce the pre-print's steering experiment offline: answer dilemmas unsteered, with "
        "SARA and with ActAdd, label every answer with an ethical school, and write results.csv, "
        "summary.json, figures and report.md."
    )
    parser.add_argument("--quick", action="store_true", help="a few-minute run (3 layers, 2 reps)")
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (default artifacts/evaluation, or artifacts/evaluation-quick)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="hub id or local folder (default: $SARA_MODEL or the embedded SmolLM2-135M)",
    )
    parser.add_argument(
        "--layers",
        nargs="+",
        default=None,
        help="blocks to steer: numbers, 'all' or 'every:K' (default every 3rd; --quick: 3)",
    )
    parser.add_argument("--reps", type=int, default=None, help="repetitions per layer (5)")
    parser.add_argument(
        "--baseline-reps", type=int, default=None, help="original answers per dilemma (20)"
    )
    parser.add_argument(
        "--dilemmas",
        nargs="+",
        default=None,
        help="bundled dilemma ids or 'all' (default: the paper's parent_criminal)",
    )
    parser.add_argument(
        "--stances", nargs="+", default=None, help="stances (default: utilitarian kantian)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=None, help="answer length (100)")
    parser.add_argument("--seed", type=int, default=1234, help="base seed (default 1234)")
    parser.add_argument("--sara-coeff", type=float, default=1.0, help="SARA lambda (1.0)")
    parser.add_argument("--actadd-coeff", type=float, default=4.0, help="ActAdd c (4.0)")
    parser.add_argument("--scope", choices=["prompt", "every-step"], default="prompt")
    parser.add_argument(
        "--judge",
        choices=["prototype", "fitted", "lm"],
        default="prototype",
        help="answer classifier (default prototype: MiniLM embeddings vs school descriptions)",
    )
    parser.add_argument(
        "--judge-model",
        default=None,
        help="another encoder folder (prototype/fitted) or causal LM id (lm) for the judge",
    )
    parser.add_argument(
        "--measure-judges",
        action="store_true",
        help="also measure the other judges' accuracy (the lm judge takes minutes)",
    )
    parser.add_argument("--no-mfq", action="store_true", help="skip the questionnaire")
    parser.add_argument(
        "--mfq-layer", type=int, default=None, help="one layer for the questionnaire (default all)"
    )
    parser.add_argument("--n-boot", type=int, default=None, help="bootstrap resamples (2000)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--from-results",
        default=None,
        metavar="DIR",
        help="re-label and re-summarise the answers in DIR/results.csv instead of generating "
        "(the questionnaire runs again unless --no-mfq); writes to --out or DIR",
    )


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    cfg = quick_config() if args.quick else EvalConfig()
    cfg.model = args.model
    if args.dilemmas:
        if [d.lower() for d in args.dilemmas] == ["all"]:
            from sara_core.presets import load_dilemmas

            cfg.dilemmas = [d.id for d in load_dilemmas()]
        else:
            cfg.dilemmas = list(args.dilemmas)
    if args.stances:
        cfg.stances = list(args.stances)
    for name in ("reps", "baseline_reps", "max_new_tokens", "n_boot"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
            setattr(cfg, name, value)
    cfg.layers = args.layers
    cfg.seed = args.seed
    cfg.sara_coeff = args.sara_coeff
    cfg.actadd_coeff = args.actadd_coeff
    cfg.scope = args.scope
    cfg.judge = args.judge
    cfg.judge_model = args.judge_model
    cfg.measure_judges = args.measure_judges
    cfg.mfq = not args.no_mfq
    cfg.mfq_layer = args.mfq_layer
    return cfg


def run_cli(args: argparse.Namespace) -> int:
    """Entry point of ``python -m sara_core evaluate``; returns the exit code."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        cfg = config_from_args(args)
        for s in cfg.stances:
            target_group(s)
        from sara_core.presets import get_dilemma, get_stance

        for d in cfg.dilemmas:
            get_dilemma(d)
        for s in cfg.stances:
            get_stance(s)
    except ValueError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    default_out = "artifacts/evaluation-quick" if cfg.quick else "artifacts/evaluation"
    try:
        if getattr(args, "from_results", None):
            out = Path(args.out or args.from_results)
            result = rebuild_evaluation(args.from_results, cfg, out, progress=not args.no_progress)
        else:
            out = Path(args.out or default_out)
            result = run_evaluation(cfg, out, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    s = result.summary
    print(f"wrote {len(result.rows)} answers and the report to {out}/ ({s['seconds']['total']} s)")
    print(f"judge: {s['judge']['judge']} {s['judge']['accuracy']:.1%} ({s['judge']['method']})")
    for h in s["metrics"]["headline"]:
        d, sp = h["success_sara_minus_actadd"], h["spillover_sara_minus_actadd"]
        print(
            f"{h['stance']}: success SARA-ActAdd {d['value']:+.3f} [{d['low']:+.3f}, "
            f"{d['high']:+.3f}], spillover SARA-ActAdd {sp['value']:+.3f} "
            f"[{sp['low']:+.3f}, {sp['high']:+.3f}]"
        )
    return 0
