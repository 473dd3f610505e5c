"""Tests for sara_core.presets.files: three formats, clear refusals, and the bounds that keep a
hostile file (alias bomb, deep nesting, oversized file) from costing memory or time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sara_core.presets.dilemmas import Dilemma, load_dilemmas
from sara_core.presets.files import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_YAML_NODES,
    PresetError,
    presets_dir,
    read_file,
)
from sara_core.presets.stances import Stance, load_stances
from sara_core.presets.user import load_user_presets
from sara_core.validation import REPR_LIMIT


def test_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "stances.yaml").write_text(
        "- {name: only, attract: 'Be brief.', repel: 'Be verbose.'}\n", encoding="utf-8"
    )
    monkeypatch.setenv("SARA_PRESETS_DIR", str(tmp_path))
    assert presets_dir() == tmp_path
    assert [s.name for s in load_stances()] == ["only"]
    with pytest.raises(ValueError, match="dilemmas.yaml.*not found.*SARA_PRESETS_DIR"):
        load_dilemmas()


# --------------------------------------------------------------------------------------------
# Valid user files in each format

STANCE_ENTRY = {"name": "Honest", "attract": "Always tell the truth.", "repel": "Always lie."}
DILEMMA_ENTRY = {"title": "The Late Train", "text": "Should you wait for the late train?"}


def _write(path: Path, key: str, entries: list[dict], wrap: bool = True) -> Path:
    """Write entries in the format given by the file's suffix."""
    if path.suffix == ".toml":
        blocks = []
        for entry in entries:  # a JSON string is a valid TOML basic string
            body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in entry.items())
            blocks.append(f"[[{key}]]\n{body}\n")
        path.write_text("\n".join(blocks), encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps({key: entries} if wrap else entries), encoding="utf-8")
    else:
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


def test_small_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "- &calm {name: calm, attract: &soft 'Speak softly.', repel: &loud 'Shout loudly.'}\n"
        "- {<<: *calm, name: loud, attract: *loud, repel: *soft}\n",
        encoding="utf-8",
    )
    calm, loud = load_stances(path)
    assert (loud.attract, loud.repel) == (calm.repel, calm.attract)


# --------------------------------------------------------------------------------------------
# Syntax errors and unreadable files


@pytest.mark.parametrize(
    ("name", "text", "fragments"),
    [
        ("syntax.yaml", "- {name: a, attract: 'unclosed, repel: b}\n", ["YAML syntax", "line"]),
        (
            "dup.yaml",
            "- name: first\n  attract: a\n  attract: c\n  repel: b\n",
            ["YAML syntax error", "line 3", "duplicate key 'attract'"],
        ),
        ("unsafe.yaml", "- !!python/object/apply:os.system ['echo hi']\n", ["YAML syntax error"]),
        ("undefined.yaml", "- *nothing\n", ["YAML syntax error", "undefined alias"]),
        ("bad.json", '{"stances": [{"name": "a",}]}', ["JSON syntax error", "line 1"]),
        ("dup.json", '[{"name": "a", "name": "b"}]', ["duplicate key 'name'"]),
        ("bad.toml", "[[stances]]\nname = \n", ["TOML syntax error", "line 2"]),
        ("flat.toml", 'name = "a"\n', ["'stances'", "found keys: name"]),
        ("notes.txt", "hello", ["unknown file extension '.txt'", ".json", ".toml", ".yaml"]),
        ("noext", "hello", ["unknown file extension '(none)'"]),
    ],
)
def test_syntax_errors(tmp_path: Path, name: str, text: str, fragments: list[str]) -> None:
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


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".toml"])
def test_oversized_file(tmp_path: Path, suffix: str) -> None:
    fits = tmp_path / f"fits{suffix}"
    fits.write_text(" " * MAX_FILE_BYTES, encoding="utf-8")
    with pytest.raises(PresetError) as info:
        load_user_presets(fits)  # read and parsed (blank), then refused for holding nothing
    assert "too large" not in str(info.value)
    big = tmp_path / f"big{suffix}"
    big.write_text(" " * (MAX_FILE_BYTES + 1), encoding="utf-8")
    with pytest.raises(PresetError, match=rf"big\{suffix}: file is too large \(1000001 bytes"):
        load_user_presets(big)


# --------------------------------------------------------------------------------------------
# Hostile files: refused quickly, with a short message naming the file


def _alias_bomb() -> str:
    """The classic "billion laughs": 9 levels of 9 aliases each, 9**9 strings once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("stances: [{name: x, attract: *i, repel: b}]")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(10)
def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(), encoding="utf-8")
    assert path.stat().st_size < 500
    with pytest.raises(PresetError) as info:
        load_user_presets(path)
    message = str(info.value)
    assert message.startswith(f"{path}: YAML error at line ")
    assert f"more than {MAX_YAML_NODES} keys and values" in message and "alias" in message
    assert len(message) < 500


@pytest.mark.timeout(10)
def test_yaml_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("stances: &s [{name: x, attract: a, repel: *s}]\n", encoding="utf-8")
    with pytest.raises(PresetError, match=r"loop\.yaml: YAML error .*recursive alias 's'"):
        load_user_presets(path)


def test_yaml_node_budget_without_aliases(tmp_path: Path) -> None:
    fits = tmp_path / "fits.yaml"
    fits.write_text("[" + "1," * (MAX_YAML_NODES - 2) + "1]", encoding="utf-8")
    assert len(read_file(fits).data) == MAX_YAML_NODES - 1  # the list itself is one node
    over = tmp_path / "over.yaml"
    over.write_text("[" + "1," * (MAX_YAML_NODES - 1) + "1]", encoding="utf-8")
    with pytest.raises(PresetError, match=rf"over\.yaml: YAML error .* {MAX_YAML_NODES} keys"):
        read_file(over)


def _nested(suffix: str, depth: int) -> str:
    """A document whose lists nest ``depth`` levels deep, in the format of ``suffix``."""
    inner = "[" * depth + "]" * depth
    return f"a = {inner}\n" if suffix == ".toml" else inner


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".toml"])
def test_nesting_at_the_limit_is_read(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"ok{suffix}"
    levels = MAX_DEPTH - 1 if suffix == ".toml" else MAX_DEPTH  # TOML's top level is a table
    path.write_text(_nested(suffix, levels), encoding="utf-8")
    read_file(path)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
@pytest.mark.parametrize("suffix", [".yaml", ".json", ".toml"])
def test_deep_nesting_is_refused(tmp_path: Path, suffix: str, depth: int) -> None:
    path = tmp_path / f"deep{suffix}"
    path.write_text(_nested(suffix, depth), encoding="utf-8")
    with pytest.raises(PresetError) as info:
        load_user_presets(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {suffix[1:].upper()} error")
    assert f"nested more than {MAX_DEPTH} levels deep" in message


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "text",
    [
        "".join("  " * i + "- x:\n" for i in range(200)),  # block style, one level per line
        '{"a":' * 100_000 + "1" + "}" * 100_000,  # JSON objects (read as YAML flow mappings)
    ],
    ids=["yaml_block", "yaml_flow_mappings"],
)
def test_deep_yaml_in_other_styles(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PresetError, match="nested more than"):
        load_user_presets(path)


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "text",
    [
        ".".join(["k"] * 100_000) + " = 1\n",  # costs tomllib memory in parts squared
        "[" + ".".join(["k"] * 100_000) + "]\n",
        "x = {" + " . ".join(['"k"'] * (MAX_DEPTH + 1)) + " = 1}\n",
    ],
    ids=["dotted_key", "table_header", "inline_quoted"],
)
def test_long_toml_dotted_keys_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PresetError, match=r"keys\.toml: TOML error: a dotted key has more than"):
        load_user_presets(path)


def test_toml_dotted_key_at_the_limit_and_floats_are_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(".".join(["k"] * (MAX_DEPTH - 1)) + " = [1.5, 2.25]\n", encoding="utf-8")
    data = read_file(path).data
    for _ in range(MAX_DEPTH - 1):
        data = data["k"]
    assert data == [1.5, 2.25]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_messages_quote_huge_values_briefly(tmp_path: Path, suffix: str) -> None:
    huge = {"name": "x", "attract": ["y" * 100_000] * 5, "repel": "b"}
    path = tmp_path / f"s{suffix}"
    path.write_text(
        json.dumps([huge]) if suffix == ".json" else yaml.safe_dump([huge]), encoding="utf-8"
    )
    with pytest.raises(PresetError, match="'attract' must be a string, got a list") as info:
        load_stances(path)
    assert len(str(info.value)) < len(str(path)) + 100 + REPR_LIMIT
