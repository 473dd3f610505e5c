"""``python -m sara_core serve``: options checked before the model loads, loopback by default."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sara_core.cli import build_parser, main
from sara_core.serve.cli import is_loopback, run_cli


def parse(*argv):
    return build_parser().parse_args(["serve", *argv])


def test_loopback_by_default_and_the_app_it_serves(tiny_lm, capsys, monkeypatch):
    monkeypatch.setenv("SARA_API_KEY", "from-env")
    seen = {}
    assert (
        run_cli(
            parse("--stance", "formal"), lambda app, args: seen.update(app=app, args=args), tiny_lm
        )
        == 0
    )
    assert seen["args"].host == "127.0.0.1" and seen["args"].port == 8000
    client = TestClient(seen["app"])
    assert client.get("/v1/models").status_code == 401  # the key came from $SARA_API_KEY
    odd = client.get("/v1/models", headers={"Authorization": "Bearer café".encode("latin-1")})
    assert odd.status_code == 401 and odd.json()["error"]["code"] == "invalid_api_key"
    models = client.get("/v1/models", headers={"Authorization": "Bearer from-env"}).json()
    assert models["data"][0]["steering"]["source"] == "stance:formal"
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert "warning" not in capsys.readouterr().err


def test_a_public_address_without_a_key_warns(tiny_lm, capsys, monkeypatch):
    monkeypatch.delenv("SARA_API_KEY", raising=False)
    run_cli(parse("--host", "0.0.0.0"), lambda app, args: None, tiny_lm)
    assert "without --api-key" in capsys.readouterr().err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--coeff", "2"], "need a default steering"),
        (["--steering", "/no/such/file.safetensors"], "steering file not found"),
        (["--stance", "formal", "--attract", "a", "--repel", "b"], "not several"),
        (["--attract", "a"], "both --attract and --repel"),
        (["--max-tokens", "0"], "--max-tokens"),
        (["--port", "70000"], "--port"),
        (["--steering-dir", "/no/such/dir"], "no folder"),
    ],
)
def test_bad_options_exit_2_with_one_line_before_loading(argv, words, capsys, monkeypatch):
    import sara_core.models.loading as models

    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("loaded a model"))
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_a_bad_default_stance_is_refused_at_start(tiny_lm):
    with pytest.raises(ValueError, match="the default steering: unknown stance"):
        run_cli(parse("--stance", "no-such"), lambda app, args: None, tiny_lm)
