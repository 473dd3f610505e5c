"""The label space: schools, groups, the labelled set and accuracy bookkeeping
(sara_core.evaluation.schools)."""

from __future__ import annotations

from collections import Counter

import pytest

from sara_core.evaluation import schools as S


def test_groups_partition_the_eight_schools():
    members = [s for ms in S.GROUPS.values() for s in ms]
    assert sorted(members) == sorted(S.SCHOOLS) and len(members) == 8
    assert S.group_of("Act Utilitarianism") == "Utilitarianism"
    assert S.group_of("Deontology") == "A priori values"
    assert S.group_of("Egoism") == "Individualism"
    with pytest.raises(ValueError, match="unknown school"):
        S.group_of("Stoicism")


def test_accuracy_group_accuracy_and_confusion_on_fixed_labels():
    gold = ["Deontology", "Egoism", "Act Utilitarianism", "Virtue Ethics"]
    pred = ["Deontology", "Altruism", "Rule Utilitarianism", "Egoism"]
    assert S.accuracy(pred, gold) == 0.25
    # Egoism->Altruism and Act->Rule stay within their group; Virtue->Egoism does not.
    assert S.group_accuracy(pred, gold) == 0.75
    table = S.confusion(pred, gold)
    assert table["Egoism"]["Altruism"] == 1 and table["Deontology"]["Deontology"] == 1
    assert sum(sum(row.values()) for row in table.values()) == 4
    assert S.accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        S.accuracy(["Egoism"], [])


def test_labelled_set_has_at_least_40_answers_covering_every_school():
    data = S.load_labelled()
    assert len(data) >= 40
    counts = Counter(data.labels)
    assert set(counts) == set(S.SCHOOLS) and min(counts.values()) >= 5
    assert all(len(data.prototypes[s]) >= 2 for s in S.SCHOOLS)
    assert len(set(data.texts)) == len(data.texts)


def test_labelled_file_errors_name_the_answer(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("answers:\n  - school: Stoicism\n    text: Be calm.\n")
    with pytest.raises(ValueError, match="answer #1: unknown school"):
        S.load_labelled(bad)
