"""A user's own preset file, holding stances, dilemmas or both (app upload, CLI ``--presets``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sara_core.presets.dilemmas import Dilemma, dilemmas_from
from sara_core.presets.entries import entries, key_list
from sara_core.presets.files import PresetError, read_file
from sara_core.presets.stances import Stance, stances_from


def load_user_presets(path: Path | str) -> tuple[list[Stance], list[Dilemma]]:
    """Load a user's own file holding stances, dilemmas or both; returns ``(stances, dilemmas)``.

    The file is a mapping with the keys ``stances`` and/or ``dilemmas``, or a plain list of
    stances (entries with ``attract``) or of dilemmas (entries with ``text``). Raises
    :class:`PresetError` naming the file and entry on any problem.
    """
    parsed = read_file(Path(path))
    file, data = parsed.path, parsed.data
    if isinstance(data, Mapping):
        unknown = [k for k in data if k not in ("stances", "dilemmas")]
        if unknown or not data:
            raise PresetError(
                file,
                f"unknown top-level key(s) {key_list(unknown) or 'none'}; "
                "use 'stances' and/or 'dilemmas'",
            )
        stances = (
            stances_from(file, entries(file, data["stances"], "stances"))
            if "stances" in data
            else []
        )
        dilemmas = (
            dilemmas_from(file, entries(file, data["dilemmas"], "dilemmas"))
            if "dilemmas" in data
            else []
        )
        return stances, dilemmas
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        if "attract" in data[0] or "repel" in data[0]:
            return stances_from(file, entries(file, data, "stances")), []
        if "text" in data[0]:
            return [], dilemmas_from(file, entries(file, data, "dilemmas"))
    raise PresetError(
        file,
        "expected stances (entries with attract/repel) or dilemmas (entries with title/text), "
        "as a list or under the keys 'stances' / 'dilemmas'",
    )
