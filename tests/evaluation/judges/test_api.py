"""The chat-endpoint judge against a stub server on 127.0.0.1 and an injected transport; nothing
leaves the machine (sara_core.evaluation.judges.api)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from sara_core.evaluation.judges import api as A
from sara_core.evaluation.judges.judge import build_judge
from sara_core.evaluation.schools import SCHOOLS

ANSWER = "Reporting the parent is right, because the law applies to everyone and victims matter."
DILEMMA = "Should they report their parent to the authorities or protect them?"


def test_parse_label():
    assert A.parse_label("Act Utilitarianism") == "Act Utilitarianism"
    assert A.parse_label("  **rights-based ethics.** ") == "Rights-based Ethics"
    assert A.parse_label("The label is Deontology, clearly.") == "Deontology"
    assert A.parse_label("Unclassifiable") == "Unclassifiable"
    assert A.parse_label("Deontology or Egoism") is None
    assert A.parse_label("utilitarian") is None


class Stub(BaseHTTPRequestHandler):
    """Answers every chat completion with the label in ``reply``; records the requests."""

    reply = "Deontology"
    status = 200
    seen: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Stub.seen.append((self.path, self.headers.get("Authorization"), body))
        data = json.dumps({"choices": [{"message": {"content": Stub.reply}}]}).encode()
        self.send_response(Stub.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_server():
    server = HTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Stub.seen, Stub.reply, Stub.status = [], "Deontology", 200
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_endpoint_judge_over_http(stub_server):
    judge = build_judge(url=stub_server, judge_model="gpt-4", api_key="k-123")
    (v,) = judge.judge([ANSWER], [DILEMMA])
    assert (v.school, v.group, v.confidence) == ("Deontology", "A priori values", 1.0)
    path, auth, body = Stub.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer k-123"
    assert body["model"] == "gpt-4" and body["temperature"] == 0
    assert DILEMMA in body["messages"][-1]["content"] and ANSWER in body["messages"][-1]["content"]
    Stub.reply = "Unclassifiable"
    (v,) = judge.judge([ANSWER], [DILEMMA])
    assert v.school == "Unclassifiable" and v.coherent and v.confidence == 0.0


def test_endpoint_errors_are_one_line(stub_server):
    Stub.status = 500
    judge = A.EndpointJudge(stub_server, "m")
    with pytest.raises(A.JudgeError, match="answered HTTP 500"):
        judge.ask(ANSWER, DILEMMA)
    with pytest.raises(A.JudgeError, match="cannot reach"):
        A.EndpointJudge("http://127.0.0.1:9/v1", "m", timeout=2).ask(ANSWER, None)


def test_injected_transport_and_malformed_replies():
    calls = []

    def transport(url, payload, headers, timeout):
        calls.append((url, headers))
        return {"choices": [{"message": {"content": "Egoism"}}]}

    judge = A.EndpointJudge("https://example.invalid/v1/chat/completions", "m", transport=transport)
    p = judge.probabilities([ANSWER, ANSWER])
    assert p[:, SCHOOLS.index("Egoism")].tolist() == [1.0, 1.0]
    assert calls[0] == ("https://example.invalid/v1/chat/completions", {})  # no key, no header
    bad = A.EndpointJudge("u", "m", transport=lambda *a: {"choices": []})
    with pytest.raises(A.JudgeError, match="no choices"):
        bad.ask(ANSWER, None)


@pytest.mark.usefixtures("one_torch_thread")
def test_the_endpoint_judge_through_the_labs_own_server(tiny_lm):
    from live_server import KEY, serving

    answers = [ANSWER, "Protecting them is right: family comes first, and loyalty is a duty too."]
    tiny_lm.model.config.max_position_embeddings = 256
    # the server's reason reaches the one-line error
    too_long = pytest.raises(A.JudgeError, match=r"HTTP 400 Bad Request: .*context of 256")
    with serving(tiny_lm, ["--max-tokens", "64"]) as live, too_long:
        build_judge(url=live.url, judge_model="x", api_key=KEY).judge(answers, [DILEMMA] * 2)
    tiny_lm.model.config.max_position_embeddings = 1024  # the judge's prompt is ~400 tokens here
    with serving(tiny_lm, ["--max-tokens", "64"]) as live:
        judge = build_judge(url=live.url, judge_model=tiny_lm.name, api_key=KEY)
        heard = []
        verdicts = judge.judge(answers, [DILEMMA] * 2, heard.append)
        assert heard == [1, 1] and len(verdicts) == 2
        assert live.engine.stats.completed == 2 and live.engine.stats.requests == 2
        asked = live.engine.stats.last
        assert all(o.prompt_tokens > 50 and o.completion_tokens <= 16 for o in asked)
    # a random model's reply names no label: the verdict is Unclassifiable, not an error
    assert all(v.school == "Unclassifiable" and v.coherent for v in verdicts)


def test_the_timeout_option_reaches_the_endpoint_judge():
    from sara_core.cli import build_parser
    from sara_core.evaluation.judges.cli import judge_from_args
    from sara_core.validation import InputError

    argv = ["judge", "--in", "x", "--out", "y", "--judge-url", "http://127.0.0.1:9/v1"]
    argv += ["--judge-model", "m"]
    assert judge_from_args(build_parser().parse_args(argv), None).classifier.timeout == 60
    args = build_parser().parse_args([*argv, "--judge-timeout", "600"])
    assert judge_from_args(args, None).classifier.timeout == 600
    with pytest.raises(InputError, match="--judge-timeout"):
        judge_from_args(build_parser().parse_args([*argv, "--judge-timeout", "0"]), None)
