"""The moral-foundations questionnaire, put to the model unsteered and under each steering.

Each item is answered by the model's next-token distribution over the scale's digits after the
item and the start of an answer: deterministic, so the pre-print's 20 sampled iterations are not
needed. A foundation's score is the mean of its items' expected answers; a catch item passes when
the likeliest digit lies in its expected range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sara_core.evaluation.config import EvalConfig
from sara_core.progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PreTrainedTokenizerBase

    from sara_core.models.loading import LoadedModel
    from sara_core.presets.questionnaire import QuestionnaireItem
    from sara_core.steering.actadd import ActAddSteering
    from sara_core.steering.sara import SaraSteering

MFQ_ANSWER_PREFIX = "My answer is "


@dataclass
class ItemScore:
    """One item's answer: ``expected`` = sum of d * P(d) over the digits (renormalised),
    ``argmax`` = the likeliest digit, ``digit_mass`` = how much probability the digits had."""

    expected: float
    argmax: int
    digit_mass: float


@dataclass
class CatchResult:
    """A catch item's answer and whether it lies in the expected range."""

    answer: int
    expected_range: list[int] | None
    passed: bool


@dataclass
class MfqRun:
    """The questionnaire under one (method, stance, layer)."""

    method: str
    stance: str
    layer: int
    foundations: dict[str, float]
    foundations_argmax: dict[str, float]
    catch: dict[str, CatchResult]
    catch_passed: bool
    digit_mass: float
    items: dict[str, ItemScore] = field(default_factory=dict)


@dataclass
class MfqResult:
    """Every questionnaire run of an evaluation, with how it was scored."""

    name: str
    scale: list[int]
    foundations: list[str]
    n_items: int
    scoring: str
    runs: list[MfqRun]


def digit_token_ids(tokenizer: PreTrainedTokenizerBase, lo: int, hi: int) -> list[list[int]]:
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


def score_item(
    lm: LoadedModel,
    input_ids: torch.Tensor,
    digit_ids: list[list[int]],
    steering: SaraSteering | ActAddSteering | None = None,
) -> ItemScore:
    """Answer one item by the model's next-token distribution over the scale's digits (0-based:
    the caller adds the scale's minimum). ``steering``: a prepared SARA/ActAdd steering."""
    import torch

    with lm.lock, torch.no_grad():
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
    return ItemScore(expected=float((p * values).sum()), argmax=int(p.argmax()), digit_mass=mass)


def mfq_prompt(lm: LoadedModel, text: str) -> torch.Tensor:
    """Token ids of a questionnaire item, with the start of the answer already written.

    Without it a small chat model starts with "I" or "The" (6% of its next-token probability went
    to the digits on SmolLM2-135M); after "My answer is " the digits take about 95%.
    """
    import torch

    from sara_core.prompts import encode_prompt

    ids = encode_prompt(lm, text if lm.is_chat else text + "\n")
    prefix = lm.tokenizer.encode(MFQ_ANSWER_PREFIX, add_special_tokens=False)
    return torch.cat([ids, torch.tensor([prefix], dtype=ids.dtype)], dim=1)


def select_items(
    items: list[QuestionnaireItem], per_foundation: int | None
) -> list[QuestionnaireItem]:
    """The first ``per_foundation`` items of each foundation and every catch item (all: None)."""
    if not per_foundation:
        return list(items)
    keep: list[QuestionnaireItem] = []
    count: dict[str, int] = {}
    for it in items:
        count[it.foundation] = count.get(it.foundation, 0) + 1
        if it.foundation == "catch" or count[it.foundation] <= per_foundation:
            keep.append(it)
    return keep


def run_mfq(
    lm: LoadedModel, cfg: EvalConfig, layers: list[int], progress: bool = True
) -> MfqResult:
    """The questionnaire unsteered and under SARA/ActAdd for each stance and layer."""
    from sara_core.presets.questionnaire import load_questionnaire
    from sara_core.presets.stances import get_stance
    from sara_core.steering.prepare import prepare_actadd, prepare_sara

    q = load_questionnaire()
    items = select_items(list(q.items), cfg.mfq_items)
    digit_ids = digit_token_ids(lm.tokenizer, q.scale_min, q.scale_max)
    prompts = {it.id: mfq_prompt(lm, q.prompt_for(it)) for it in items}
    stances = [get_stance(s) for s in cfg.stances]
    runs: list[MfqRun] = []
    total = len(items) * (1 + len(stances) * len(layers) * 2)

    def one(
        method: str, stance: str, layer: int, steering: SaraSteering | ActAddSteering | None
    ) -> None:
        answers = {}
        for it in items:
            s = score_item(lm, prompts[it.id], digit_ids, steering)
            answers[it.id] = ItemScore(
                s.expected + q.scale_min, s.argmax + q.scale_min, s.digit_mass
            )
            bar.update()
        catch = {
            it.id: _catch(answers[it.id].argmax, it.expected)
            for it in items
            if it.foundation == "catch"
        }
        runs.append(
            MfqRun(
                method=method,
                stance=stance,
                layer=layer,
                foundations=q.foundation_scores({k: v.expected for k, v in answers.items()}),
                foundations_argmax=q.foundation_scores({k: v.argmax for k, v in answers.items()}),
                catch=catch,
                catch_passed=all(c.passed for c in catch.values()),
                digit_mass=sum(v.digit_mass for v in answers.values()) / len(answers),
                items=answers,
            )
        )

    with progress_bar(total, "questionnaire", progress, unit="item") as bar:
        one("original", "none", -1, None)
        for stance in stances:
            for layer in layers:
                sara = prepare_sara(
                    lm, stance.attract, stance.repel, layer, cfg.sara_coeff, None, "raw", cfg.scope
                )
                act = prepare_actadd(lm, stance.attract, stance.repel, layer, cfg.actadd_coeff)
                one("sara", stance.name, layer, sara)
                one("actadd", stance.name, layer, act)
    return MfqResult(
        name=q.name,
        scale=[q.scale_min, q.scale_max],
        foundations=list(q.foundations),
        n_items=len(items),
        scoring="next-token probabilities of the scale's digits after the item and the "
        f"answer start {MFQ_ANSWER_PREFIX.strip()!r}: foundation = mean of expected answers; "
        "catch items use the likeliest digit",
        runs=runs,
    )


def _catch(answer: int, expected: tuple[int, int] | None) -> CatchResult:
    rng = list(expected) if expected else None
    passed = rng is None or rng[0] <= answer <= rng[1]
    return CatchResult(answer=answer, expected_range=rng, passed=passed)


def mfq_summary(mfq: MfqResult | None, layers: list[int], cfg: EvalConfig) -> dict[str, Any] | None:
    """The questionnaire's part of summary.json: the profile at one layer and every failed run."""
    if not mfq:
        return None
    layer = cfg.mfq_layer if cfg.mfq_layer is not None else layers[len(layers) // 2]
    return {
        "name": mfq.name,
        "scale": mfq.scale,
        "foundations": mfq.foundations,
        "n_items": mfq.n_items,
        "scoring": mfq.scoring,
        "profile_layer": layer,
        "profile": [
            {
                "method": r.method,
                "stance": r.stance,
                "layer": r.layer,
                "foundations": {k: round(v, 3) for k, v in r.foundations.items()},
                "catch_passed": r.catch_passed,
                "digit_mass": round(r.digit_mass, 3),
            }
            for r in mfq.runs
            if r.layer in (-1, layer)
        ],
        "catch_failures": [
            {
                "method": r.method,
                "stance": r.stance,
                "layer": r.layer,
                "catch": {k: asdict(c) for k, c in r.catch.items()},
            }
            for r in mfq.runs
            if not r.catch_passed
        ],
        "n_runs": len(mfq.runs),
    }


def mfq_runs_json(mfq: MfqResult | None) -> list[dict[str, Any]] | None:
    """Every run, as summary.json's ``mfq_runs``."""
    return [asdict(r) for r in mfq.runs] if mfq else None
