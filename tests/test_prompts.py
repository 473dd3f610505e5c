"""A conversation's token ids (prompts.encode_messages): one user message reads exactly as
encode_prompt; several go through the chat template, or a transcript on a base model."""

from __future__ import annotations

import pytest
from conftest import make_tiny_lm

from sara_core.prompts import encode_messages, encode_prompt
from sara_core.validation import InputError


def test_one_user_message_is_the_compare_prompt(tiny_lm):
    for lm in (tiny_lm, make_tiny_lm("llama", chat=False)):
        ids = encode_messages(lm, [{"role": "user", "content": "Hello world!"}])
        assert ids == encode_prompt(lm, "Hello world!")[0].tolist()


def test_a_conversation_reads_every_turn(tiny_lm):
    turns = [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": "Bye"},
    ]
    text = tiny_lm.tokenizer.decode(encode_messages(tiny_lm, turns))
    assert text.index("Be kind.") < text.index("Hello") < text.index("Hi!") < text.index("Bye")
    assert text.rstrip().endswith("<|assistant|>")
    base = make_tiny_lm("llama", chat=False)
    plain = base.tokenizer.decode(encode_messages(base, turns))
    assert plain.endswith("User: Bye\n\nAssistant:") and plain.startswith("System: Be kind.")


def test_a_template_that_refuses_a_role_is_an_input_error(tiny_lm):
    tiny_lm.tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}{{ m['content'] }}"
        "{% endfor %}"
    )
    with pytest.raises(InputError, match="System role not supported"):
        encode_messages(tiny_lm, [{"role": "system", "content": "x"}])
