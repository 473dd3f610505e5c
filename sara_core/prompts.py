"""Turning texts into the token ids the model reads, and checking them first.

The prompt the model answers is the exact chat-templated sequence for chat models (raw text for
base models). Attract/repel (SARA) and plus/minus (ActAdd) prompts are raw text with the
tokenizer's own special tokens (BOS where it adds one), as both authors' code does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sara_core.models.loading import LoadedModel
from sara_core.validation import MAX_PROMPT_TOKENS, InputError, as_text, same_text


def user_turn(text: str, instruction: str | None = None) -> str:
    """The user's message: the question, after the instruction and a blank line when given."""
    return f"{instruction.strip()}\n\n{text}" if instruction else text


def encode_prompt(lm: LoadedModel, text: str, instruction: str | None = None) -> torch.Tensor:
    """Token ids (1, T) the model answers from: the chat template for chat models, else raw text.

    ``instruction`` (the "prompted" baseline) goes before the question in the same user turn.
    """
    tok: Any = lm.tokenizer  # transformers' stubs type these calls loosely
    content = user_turn(text, instruction)
    if lm.is_chat:
        ids = tok.apply_chat_template(
            [{"role": "user", "content": content}],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
        )["input_ids"]
    else:
        ids = tok(content, return_tensors="pt")["input_ids"]
    return torch.as_tensor(ids)


def encode_messages(lm: LoadedModel, messages: list[dict[str, str]]) -> list[int]:
    """Token ids a chat model answers a whole conversation from (``[{"role", "content"}, ...]``,
    then the assistant's turn), through the model's chat template, exactly as
    :func:`encode_prompt` does for one user message. A base model has no roles: one message is
    its raw text (as :func:`encode_prompt`); several become a plain "Role: text" transcript that
    ends with "Assistant:". The template's own errors (e.g. a role it refuses) are ValueErrors.
    """
    tok: Any = lm.tokenizer
    if lm.is_chat:
        try:
            out = tok.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=True
            )
        except Exception as exc:  # noqa: BLE001 - jinja's TemplateError and the like
            raise InputError(f"the model's chat template refused these messages: {exc}") from None
        return [int(i) for i in out["input_ids"]]
    if len(messages) == 1:
        text = messages[0]["content"]
    else:
        turns = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
        text = "\n\n".join([*turns, "Assistant:"])
    return [int(i) for i in tok(text)["input_ids"]]


def encode_steering_text(lm: LoadedModel, text: str) -> list[int]:
    """Attract/repel and plus/minus prompts: raw text with the tokenizer's own special tokens."""
    tok: Any = lm.tokenizer
    return [int(i) for i in tok(text)["input_ids"]]


def decode(lm: LoadedModel, ids: list[int]) -> str:
    """The text of generated ids, special tokens dropped."""
    return str(lm.tokenizer.decode(ids, skip_special_tokens=True)).strip()


def count_tokens(lm: LoadedModel, text: str) -> int:
    tok: Any = lm.tokenizer
    return len(tok(text, add_special_tokens=False)["input_ids"])


def check_text(
    lm: LoadedModel, name: str, text: object, max_tokens: int = MAX_PROMPT_TOKENS
) -> str:
    """Refuse empty, over-long or non-text input with a message a user can act on."""
    text = as_text(name, text)
    n = count_tokens(lm, text)
    if n > max_tokens:
        raise InputError(f"{name} is too long: {n} tokens, the limit is {max_tokens}")
    return text


@dataclass(frozen=True)
class SteeringTexts:
    """The three texts of a request, checked: the prompt, and the attract and repel texts."""

    prompt: str
    attract: str
    repel: str


def check_texts(lm: LoadedModel, prompt: object, attract: object, repel: object) -> SteeringTexts:
    """Check the three texts of a request (non-empty, within the caps, attract != repel)."""
    texts = SteeringTexts(
        check_text(lm, "the dilemma", prompt),
        check_text(lm, "the attract prompt", attract),
        check_text(lm, "the repel prompt", repel),
    )
    if same_text(texts.attract, texts.repel):
        raise InputError(
            "attract and repel are the same text: steering needs two different prompts"
        )
    return texts
