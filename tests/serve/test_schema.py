"""The request body, checked (no model): defaults as OpenAI's, limits, and the 400s' fields."""

from __future__ import annotations

import pytest

from sara_core.serve.errors import ApiError
from sara_core.serve.schema import Limits, parse_chat

HI = [{"role": "user", "content": "hi"}]


def test_defaults_follow_openai_temperature_zero_is_greedy():
    plain = parse_chat({"messages": HI}, Limits())
    assert plain.settings.do_sample and plain.settings.temperature == 1.0  # OpenAI's default
    assert plain.settings.max_new_tokens == Limits().default_max_tokens
    assert plain.steering is None and not plain.stream and plain.stop == ()
    greedy = parse_chat({"messages": HI, "temperature": 0, "max_completion_tokens": 5}, Limits())
    assert not greedy.settings.do_sample and greedy.settings.max_new_tokens == 5
    seeded = parse_chat({"messages": HI, "temperature": 0.5, "top_p": 0.9, "seed": 3}, Limits())
    assert (seeded.settings.temperature, seeded.settings.top_p, seeded.settings.seed) == (
        0.5,
        0.9,
        3,
    )


def test_messages_content_parts_developer_role_and_stops():
    body = {
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
        ],
        "stop": "END",
        "stream": True,
        "stream_options": {"include_usage": True},
        "steering": {"stance": "formal", "coeff": "2"},
        "user": "ignored",
    }
    chat = parse_chat(body, Limits())
    assert chat.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "ab"},
    ]
    assert chat.stop == ("END",) and chat.stream and chat.include_usage
    assert chat.steering is not None and chat.steering.stance == "formal"
    assert chat.steering.coeff == "2"  # checked against the model later


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content",
        ),
        ({"messages": [{"role": "user", "content": "   "}]}, "messages"),
        ({"messages": HI * 5}, "messages"),
        ({"messages": [{"role": "user", "content": "x" * 101}]}, "messages[0].content"),
        ({"messages": HI, "max_tokens": 0}, "max_tokens"),
        ({"messages": HI, "max_tokens": 33}, "max_tokens"),
        ({"messages": HI, "temperature": 3}, "temperature"),
        ({"messages": HI, "temperature": "hot"}, "temperature"),
        ({"messages": HI, "seed": -1}, "seed"),
        ({"messages": HI, "stop": ["a"] * 5}, "stop"),
        ({"messages": HI, "stop": [""]}, "stop"),
        ({"messages": HI, "n": 2}, "n"),
        ({"messages": HI, "logprobs": True}, "logprobs"),
        ({"messages": HI, "tools": [{"type": "function"}]}, "tools"),
        ({"messages": HI, "response_format": {"type": "json_object"}}, "response_format"),
        ({"messages": HI, "steering": "formal"}, "steering"),
        ({"messages": HI, "steering": {"method": "both"}}, "steering.method"),
        ({"messages": HI, "steering": {"stance": ""}}, "steering.stance"),
        ({"messages": HI, "model": 3}, "model"),
    ],
)
def test_bad_fields_are_400s_naming_the_field(body, param):
    limits = Limits(max_messages=4, max_message_chars=100, max_tokens=32, default_max_tokens=8)
    with pytest.raises(ApiError) as err:
        parse_chat(body, limits)
    assert err.value.status == 400 and err.value.param == param
    assert set(err.value.body()["error"]) == {"message", "type", "param", "code"}


def test_the_conversation_is_bounded_as_a_whole():
    limits = Limits(max_message_chars=100, max_conversation_chars=150)
    with pytest.raises(ApiError, match="conversation is too long"):
        parse_chat({"messages": [{"role": "user", "content": "x" * 100}] * 2}, limits)


def test_limits_from_a_command_line_are_checked():
    with pytest.raises(ValueError, match="--max-tokens"):
        Limits(max_tokens=0).check()
    with pytest.raises(ValueError, match="--timeout"):
        Limits(budget_s=0).check()
