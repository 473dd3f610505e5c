"""Stances and dilemmas: the bundled bank, the dropdowns, swapping, and a visitor's own file.

A visitor's file adds entries for that session only (in ``gr.State``); the bundled lists in
:class:`Presets` are shared and never changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from sara_core.presets.dilemmas import Dilemma, load_dilemmas, merge_dilemmas
from sara_core.presets.paper import PAPER_ATTRACT, PAPER_DILEMMA, PAPER_PREFIX, PAPER_REPEL
from sara_core.presets.stances import Stance, load_stances, merge_stances
from sara_core.presets.user import load_user_presets

if TYPE_CHECKING:
    from sara_lab.lab import Lab

log = logging.getLogger("sara_lab")

EXAMPLES = (  # (dilemma id, stance name) pairs offered as clickable examples
    ("parent_criminal", "utilitarian"),
    ("parent_criminal", "kantian"),
    ("trolley_switch", "utilitarian"),
    ("lie_to_protect", "kantian"),
    ("found_wallet", "egoism"),
    ("stealing_medicine", "altruism"),
)


@dataclass(frozen=True)
class Presets:
    """The bundled stances and dilemmas (or the paper's pair, with ``error`` saying why)."""

    stances: list[Stance]
    dilemmas: list[Dilemma]
    error: str | None = None

    def default_dilemma(self) -> str:
        for d in self.dilemmas:
            if d.id == "parent_criminal":
                return PAPER_PREFIX + d.text
        return PAPER_PREFIX + PAPER_DILEMMA

    def default_stance(self) -> Stance:
        return next((s for s in self.stances if s.name == "utilitarian"), self.stances[0])

    def examples(self) -> tuple[list[list[str]], list[str]]:
        """Clickable (dilemma, stance) examples and their short labels."""
        names = {s.name for s in self.stances}
        by_id = {d.id: d for d in self.dilemmas}
        chosen = [(by_id[d], s) for d, s in EXAMPLES if d in by_id and s in names]
        return (
            [[PAPER_PREFIX + d.text, s] for d, s in chosen],
            [f"{d.title}  →  {s}" for d, s in chosen],
        )


def bundled_presets() -> Presets:
    """The bundled bank; if its files are unreadable, the paper's pair keeps the app serving."""
    try:
        return Presets(load_stances(), load_dilemmas())
    except (ValueError, OSError) as exc:
        log.error("bundled presets unreadable: %s", exc)
        utilitarian = Stance(
            "utilitarian",
            "The paper's utilitarian steering",
            PAPER_ATTRACT,
            PAPER_REPEL,
            category="paper",
        )
        kantian = Stance(
            "kantian", "The paper's Kantian steering", PAPER_REPEL, PAPER_ATTRACT, category="paper"
        )
        paper = Dilemma("Criminal parent", PAPER_DILEMMA, id="parent_criminal")
        return Presets([utilitarian, kantian], [paper], str(exc))


def stance_choices(stances: Sequence[Stance]) -> list[tuple[str, str]]:
    return [(f"{s.name}  ·  {s.category}", s.name) for s in stances]


def dilemma_choices(dilemmas: Sequence[Dilemma]) -> list[tuple[str, str]]:
    return [(d.title, d.id) for d in dilemmas]


def stance_markdown(stance: Stance) -> str:
    source = f" <small>({stance.source})</small>" if stance.source else ""
    return f"**{stance.name}**: {stance.description or 'no description'}{source}"


def pick_stance(lab: Lab, name: str | None, stances: Sequence[Stance] | None) -> tuple[Any, ...]:
    """Stance dropdown -> (attract, repel, description, uploaded steering dropped, its note)."""
    stance = next((s for s in stances or lab.presets.stances if s.name == name), None)
    if stance is None:
        return gr.skip(), gr.skip(), "", gr.skip(), gr.skip()
    return stance.attract, stance.repel, stance_markdown(stance), None, ""


def pick_dilemma(
    lab: Lab, key: str | None, prefix: bool, dilemmas: Sequence[Dilemma] | None
) -> Any:
    """Dilemma bank -> the dilemma text, with or without the paper's instruction."""
    d = next((d for d in dilemmas or lab.presets.dilemmas if d.id == key), None)
    if d is None:
        return gr.skip()
    return (PAPER_PREFIX if prefix else "") + d.text


def swap(attract: str, repel: str) -> tuple[str, str, None, str]:
    """Exchange attract and repel; an uploaded steering no longer matches, so it is dropped."""
    return repel, attract, None, "Swapped attract and repel."


def edited(uploaded: object) -> tuple[Any, Any]:
    """Attract or repel typed into: an uploaded steering no longer matches, so it is dropped."""
    if uploaded is None:
        return gr.skip(), gr.skip()
    return None, "Edited: the uploaded steering is no longer used."


def upload_presets(
    lab: Lab,
    path: str | None,
    stances: Sequence[Stance] | None,
    dilemmas: Sequence[Dilemma] | None,
) -> tuple[Any, ...]:
    """A visitor's YAML/JSON/TOML file adds stances and dilemmas for this session only."""
    if not path:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), ""
    name = Path(path).name
    try:
        new_stances, new_dilemmas = load_user_presets(path)
        all_stances, replaced_s = merge_stances(stances or lab.presets.stances, new_stances)
        all_dilemmas, replaced_d = merge_dilemmas(dilemmas or lab.presets.dilemmas, new_dilemmas)
    except (ValueError, OSError) as exc:  # name the file, not the server's upload folder
        raise gr.Error(str(exc).replace(str(path), name)) from None
    parts = []
    if new_stances:
        parts.append(f"{len(new_stances)} stance(s): {', '.join(s.name for s in new_stances)}")
    if new_dilemmas:
        parts.append(f"{len(new_dilemmas)} dilemma(s): {', '.join(d.id for d in new_dilemmas)}")
    replaced = replaced_s + replaced_d
    note = f"Added from **{name}**: " + "; ".join(parts) + "."
    if replaced:
        note += f" Replaced: {', '.join(replaced)}."
    first = new_stances[0].name if new_stances else gr.skip()
    return (
        all_stances,
        all_dilemmas,
        gr.update(choices=stance_choices(all_stances), value=first),
        gr.update(choices=dilemma_choices(all_dilemmas)),
        note,
    )
