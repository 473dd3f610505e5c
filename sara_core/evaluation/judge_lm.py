"""A causal language model as judge, zero-shot, from its own likelihoods (``--judge lm``).

"Channel" scoring: the school whose description makes the answer most likely,
log P(answer | "Here is an argument from <school>, the view that ..."). Works with the loaded model
or any bigger causal LM (``--judge-model``); slow on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sara_core.evaluation.schools import SCHOOLS

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.models import LoadedModel


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


LM_JUDGE_PREFIX = "Here is an argument from {school}, the view that {description} Argument: "
SCHOOL_DESCRIPTIONS: dict[str, str] = {
    "Rule Utilitarianism": "we must follow the rules whose general observance gives the best "
    "consequences for society.",
    "Act Utilitarianism": "the right act is the one whose own consequences give the greatest "
    "good for the greatest number.",
    "Virtue Ethics": "we must act as a person of good character, honest, brave and kind, would.",
    "Rights-based Ethics": "every person has rights, to life, liberty and justice, that must "
    "never be violated.",
    "Prima Facie Duties": "several duties, such as loyalty, justice and not harming, must be "
    "weighed against each other in each case.",
    "Altruism": "we must put the good of other people before our own interests.",
    "Deontology": "we must do our moral duty and obey moral rules, whatever the consequences.",
    "Egoism": "each person should do what serves their own self-interest best.",
}


class LMJudge:
    """Zero-shot judge from a causal LM's likelihoods: argmax_s log P(answer | school prefix).

    Scoring the answer under each school's description (the "channel" direction) suits small
    models better than asking them to name a label. Confidence = softmax over the 8 mean log
    likelihoods per answer token.
    """

    name = "lm"

    def __init__(self, lm: LoadedModel, max_answer_tokens: int = 160):
        self.lm = lm
        self.max_answer_tokens = max_answer_tokens
        tok = lm.tokenizer
        self._prefixes = [
            tok(
                LM_JUDGE_PREFIX.format(school=s, description=SCHOOL_DESCRIPTIONS[s]),
                add_special_tokens=True,
            )["input_ids"]
            for s in SCHOOLS
        ]

    def scores(self, text: str) -> np.ndarray:
        """Mean log-likelihood per answer token under each school's prefix: (8,)."""
        import torch

        tok = self.lm.tokenizer
        ans = tok(" " + text.strip(), add_special_tokens=False)["input_ids"][
            : self.max_answer_tokens
        ]
        if not ans:
            return np.zeros(len(SCHOOLS))
        seqs = [p + ans for p in self._prefixes]
        width = max(len(s) for s in seqs)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
        with self.lm.lock, torch.no_grad():
            logits = self.lm.model(
                input_ids=ids.to(self.lm.device), attention_mask=mask.to(self.lm.device)
            ).logits.float()
        logp = torch.log_softmax(logits, dim=-1).cpu()
        out = np.zeros(len(SCHOOLS))
        for i, p in enumerate(self._prefixes):
            pos = torch.arange(len(p) - 1, len(p) - 1 + len(ans))
            out[i] = logp[i, pos, torch.tensor(ans)].mean().item()
        return out

    def label(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        result = []
        for t in texts:
            s = self.scores(t)
            p = _softmax(s * 20.0)  # ~0.05 nats/token separates schools: sharpen to [0, 1]
            i = int(p.argmax())
            result.append((SCHOOLS[i], float(p[i])))
        return result
