"""The labels scored from one cached prompt pass equal a plain full forward pass of prompt + label
(sara_core.evaluation.judges.label_scores), on tiny random models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_tiny_lm

from sara_core.evaluation.judges.label_scores import (
    PromptMemo,
    label_logprobs,
    run_prompt,
    shared_prefix,
)
from sara_core.evaluation.judges.lm import PromptJudge
from sara_core.evaluation.schools import SCHOOL_LABELS

pytestmark = pytest.mark.usefixtures("one_torch_thread")
PROMPT = [7, 3, 11, 5, 40, 41, 9, 12, 60, 2]
# one token, several tokens, unequal lengths, a label that starts like another
LABELS = [[8], [8, 9, 10, 13], [21, 22], [8, 9], [30, 31, 32, 33, 34, 35]]


def full_forward(lm, prompt: list[int], labels: list[list[int]]) -> np.ndarray:
    """The straightforward sum: each prompt + label through the model alone, no cache."""
    out = []
    for lab in labels:
        with torch.no_grad():
            logits = lm.model(input_ids=torch.tensor([prompt + lab])).logits[0].double()
        logp = torch.log_softmax(logits, -1)
        out.append(sum(logp[len(prompt) - 1 + j, t].item() for j, t in enumerate(lab)))
    return np.array(out)


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma2", "gpt2"])
def test_labels_from_one_cached_prompt_equal_full_forward_passes(arch):
    lm = make_tiny_lm(arch)
    got = label_logprobs(lm, PROMPT, LABELS)
    assert got.shape == (len(LABELS),) and np.all(got < 0)
    assert got == pytest.approx(full_forward(lm, PROMPT, LABELS), abs=1e-4)


@pytest.mark.parametrize("arch", ["llama", "gemma2"])
def test_the_memo_reuses_the_shared_start_and_changes_nothing(arch):
    lm = make_tiny_lm(arch)
    memo = PromptMemo([])
    other = PROMPT[:6] + [50, 51, 52]  # shares six tokens with PROMPT
    for prompt in (PROMPT, other, PROMPT, PROMPT[:4]):  # a prefix of the last, too
        got = label_logprobs(lm, prompt, LABELS, memo)
        assert memo.ids == prompt
        assert got == pytest.approx(full_forward(lm, prompt, LABELS), abs=1e-4)


def test_the_memo_runs_only_the_new_tokens():
    lm = make_tiny_lm("llama")
    memo = PromptMemo([])
    seen: list[int] = []
    hook = lm.model.model.embed_tokens.register_forward_hook(
        lambda _m, args, _out: seen.append(args[0].shape[1])
    )
    try:
        run_prompt(lm, PROMPT, memo)
        run_prompt(lm, PROMPT[:6] + [50, 51, 52], memo)
        run_prompt(lm, PROMPT[:6] + [50, 51, 52], memo)  # all shared: the last token runs again
    finally:
        hook.remove()
    assert seen == [len(PROMPT), 3, 1]


def test_the_prompt_judge_scores_the_nine_labels_as_a_full_forward_pass_would(tiny_lm):
    judge = PromptJudge(tiny_lm)
    labels = [tiny_lm.tokenizer(s, add_special_tokens=False)["input_ids"] for s in SCHOOL_LABELS]
    assert len({len(lab) for lab in labels}) > 1 and max(len(lab) for lab in labels) > 2
    for answer in ("Report them: the law binds everyone.", "Protect them, they are family."):
        prompt = judge.prompt_ids(answer, "Should they report them?")
        expected = full_forward(tiny_lm, prompt, labels)
        assert judge.label_logprobs(answer, "Should they report them?") == pytest.approx(
            expected, abs=1e-4
        )


def test_shared_prefix_and_bad_input(tiny_lm):
    assert shared_prefix([1, 2, 3], [1, 2, 4]) == 2 and shared_prefix([1], [2]) == 0
    assert shared_prefix([1, 2], [1, 2, 3]) == 2
    with pytest.raises(ValueError, match="at least one token"):
        label_logprobs(tiny_lm, PROMPT, [[8], []])
