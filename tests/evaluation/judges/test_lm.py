"""Language models as judges on a tiny random model: channel scoring and the prompt judge
constrained to the nine labels (sara_core.evaluation.judges.lm)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sara_core.evaluation.judges.judge import Classifier, build_classifier, build_judge
from sara_core.evaluation.judges.lm import LMJudge, PromptJudge, continuation_logprobs
from sara_core.evaluation.schools import SCHOOL_LABELS, SCHOOLS

pytestmark = pytest.mark.usefixtures("one_torch_thread")
DILEMMA = "Should they report them to the authorities or should they protect them?"


def test_lm_judge_gives_a_probability_per_school(tiny_lm):
    judge = build_classifier("lm", lm=tiny_lm)
    assert isinstance(judge, LMJudge) and isinstance(judge, Classifier)
    p = judge.probabilities(["Report them, it is your duty.", "Protect yourself first."])
    assert p.shape == (2, len(SCHOOLS)) and np.allclose(p.sum(1), 1.0)


def test_continuation_logprobs_match_a_manual_forward_pass(tiny_lm):
    (lp,) = continuation_logprobs(tiny_lm, [[5, 6, 7]], [[8, 9]])
    with torch.no_grad():
        logits = tiny_lm.model(input_ids=torch.tensor([[5, 6, 7, 8, 9]])).logits[0]
    logp = torch.log_softmax(logits, -1)
    assert lp == pytest.approx([logp[2, 8].item(), logp[3, 9].item()], abs=1e-5)
    # padded in a batch with a longer sequence, the result is the same
    short, _ = continuation_logprobs(tiny_lm, [[5, 6, 7], [5, 6, 7, 8, 9, 10]], [[8, 9], [11]])
    assert short == pytest.approx(lp, abs=1e-5)


def test_prompt_judge_compares_the_nine_labels(tiny_lm):
    judge = PromptJudge(tiny_lm)
    lps = judge.label_logprobs("Report them: the law binds everyone.", DILEMMA)
    assert lps.shape == (len(SCHOOL_LABELS),) and np.all(lps < 0)
    p = judge.probabilities(["Report them: the law binds everyone."], [DILEMMA])
    # The schools' share of the nine labels: what went to Unclassifiable is missing.
    assert p.shape == (1, len(SCHOOLS)) and 0 < p.sum() < 1
    ids = judge.prompt_ids("an answer", DILEMMA)
    assert "an answer" in tiny_lm.tokenizer.decode(ids)


def test_a_model_folder_becomes_a_prompt_judge(tiny_lm, tmp_path):
    tiny_lm.model.save_pretrained(tmp_path)
    tiny_lm.tokenizer.save_pretrained(tmp_path)
    judge = build_judge(str(tmp_path), min_confidence=0.0)
    assert isinstance(judge.classifier, PromptJudge)
    (v,) = judge.judge(
        ["Report them to the authorities, because the law binds every one of us alike, always."]
    )
    assert v.school in SCHOOLS and v.coherent


def test_an_unknown_model_fails_in_one_line_offline():
    with pytest.raises(RuntimeError, match="no-such-judge-model is not in the local Hugging Face"):
        build_classifier("no-such-owner/no-such-judge-model")


def test_the_judge_dtype_reaches_the_loader(tiny_lm, monkeypatch, tmp_path):
    import sara_core.models.loading as loading

    asked = []
    monkeypatch.setattr(loading, "load_model", lambda name, dtype: asked.append(dtype) or tiny_lm)
    assert isinstance(build_classifier(str(tmp_path), dtype="int8"), PromptJudge)
    build_classifier(str(tmp_path))
    assert asked == ["int8", "auto"]
