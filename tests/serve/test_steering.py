"""A request's steering, planned against the model and built (tiny model, no server)."""

from __future__ import annotations

import pytest

import sara_core.steering.prepare as prepare_module
from sara_core.presets.stances import get_stance
from sara_core.serve.errors import ApiError
from sara_core.serve.schema import SteeringRequest
from sara_core.serve.steering import Resolver
from sara_core.steering.actadd import ActAddSteering
from sara_core.steering.prepare import prepare_actadd, prepare_sara
from sara_core.steering.sara import SaraSteering
from sara_core.steering.saved import save_steering

pytestmark = pytest.mark.usefixtures("one_torch_thread")

A, R = "I am happy and hopeful.", "I am sad and hopeless."


def test_texts_and_stances_get_the_librarys_defaults(tiny_lm):
    res = Resolver(tiny_lm, [get_stance("formal")])
    sara = res.plan(SteeringRequest(attract=A, repel=R))
    assert (sara.method, sara.layer, sara.coeff, sara.k, sara.scope) == (
        "sara",
        2,
        1.0,
        None,
        "prompt",
    )
    act = res.plan(SteeringRequest(stance="FORMAL", method="actadd", layer=-1))
    assert (act.method, act.layer, act.coeff, act.actadd_mode) == ("actadd", 3, 4.0, "prefix")
    assert act.source == "stance:formal" and res.plan(None).method == "none"
    assert res.plan(SteeringRequest(method="none", stance="nope")).method == "none"


def test_a_measured_model_gets_its_strengths_as_the_cli_does(tiny_lm, monkeypatch):
    """A request without a coeff on a model with a presets/defaults.yaml entry steers at that
    entry's strengths, the ones the CLI and the app start from; a given coeff still wins."""
    from sara_core.presets.defaults import defaults_for

    # Gemma's c (1) and Qwen 0.5B's lambda (2) differ from the library's 1 and 4
    for name in ("pypi:gemma-3-270m", "pypi:qwen2.5-coder-0.5b-instruct"):
        entry = defaults_for(name)
        assert entry is not None
        monkeypatch.setattr(tiny_lm, "name", name)
        res = Resolver(tiny_lm)
        sara = res.plan(SteeringRequest(attract=A, repel=R))
        act = res.plan(SteeringRequest(attract=A, repel=R, method="actadd"))
        assert (sara.coeff, act.coeff) == (entry.sara_coeff, entry.actadd_coeff), name
        assert res.plan(SteeringRequest(attract=A, repel=R, coeff=3.0)).coeff == 3.0
    monkeypatch.setattr(tiny_lm, "name", "some/unmeasured-model")
    res = Resolver(tiny_lm)
    assert res.plan(SteeringRequest(attract=A, repel=R)).coeff == 1.0
    assert res.plan(SteeringRequest(attract=A, repel=R, method="actadd")).coeff == 4.0


def test_built_steerings_equal_the_librarys_and_are_fresh_per_request(tiny_lm, monkeypatch):
    res = Resolver(tiny_lm)
    prepare_module.prep_cache(tiny_lm).clear()
    calls = []
    read = prepare_module.residuals_at
    monkeypatch.setattr(
        prepare_module, "residuals_at", lambda *a, **k: calls.append(1) or read(*a, **k)
    )
    plan = res.plan(SteeringRequest(attract=A, repel=R, coeff=2, k=2, scope="every-step"))
    (one,) = res.build(plan)
    (two,) = res.build(plan)
    # the forward pass ran once (the model's preparation cache); the steering objects are fresh
    assert len(calls) == 1 and one is not two
    ref = prepare_sara(tiny_lm, A, R, 2, 2.0, 2, "raw", "every-step")
    assert isinstance(one, SaraSteering) and one.attract_acts.equal(ref.attract_acts)
    assert (one.coeff, one.k, one.scope) == (2.0, 2, "every-step")
    (act,) = res.build(res.plan(SteeringRequest(attract=A, repel=R, method="actadd")))
    assert isinstance(act, ActAddSteering)
    assert act.diff.equal(prepare_actadd(tiny_lm, A, R, 2).diff)


@pytest.mark.parametrize(
    ("req", "param"),
    [
        (SteeringRequest(stance="nope"), "steering.stance"),
        (SteeringRequest(stance="formal", attract=A), "steering.stance"),
        (SteeringRequest(attract=A), "steering"),
        (SteeringRequest(attract=A, repel=A.upper()), "steering"),
        (SteeringRequest(attract=A, repel=R, layer=4), "steering.layer"),
        (SteeringRequest(attract=A, repel=R, k=99), "steering.k"),
        (SteeringRequest(attract=A, repel=R, coeff=101), "steering.coeff"),
        (SteeringRequest(attract=A, repel=R, scope="always"), "steering.scope"),
        (SteeringRequest(file="x"), "steering.file"),  # no folder
    ],
)
def test_bad_steerings_are_400s(tiny_lm, req, param):
    with pytest.raises(ApiError) as err:
        Resolver(tiny_lm, [get_stance("formal")]).plan(req)
    assert err.value.status == 400 and err.value.param == param


def test_files_from_the_folder_only_with_their_own_block(tiny_lm, tmp_path):
    sara = prepare_sara(tiny_lm, A, R, 1, coeff=0.5, k=2)
    save_steering(tmp_path / "s.safetensors", sara=sara, attract=A, repel=R)
    (tmp_path / "bad.safetensors").write_text("no")
    (tmp_path.parent / "outside.safetensors").write_bytes((tmp_path / "s.safetensors").read_bytes())
    res = Resolver(tiny_lm, folder=tmp_path)
    plan = res.plan(SteeringRequest(file="s"))
    assert (plan.method, plan.layer, plan.coeff, plan.k) == ("sara", 1, 0.5, 2)
    assert res.plan(SteeringRequest(file="s.safetensors", coeff=3, layer=1)).coeff == 3
    for bad, words in [
        (SteeringRequest(file="s", layer=2), "differs from the steering file's block 1"),
        (SteeringRequest(file="s", method="actadd"), "holds no actadd"),
        (SteeringRequest(file="bad"), "not a valid steering file"),
        (SteeringRequest(file="../outside"), "plain file name"),
        (SteeringRequest(file="/etc/passwd"), "plain file name"),
        (SteeringRequest(file="nothere"), "no steering file"),
    ]:
        with pytest.raises(ApiError, match=words):
            res.plan(bad)


def test_the_default_is_checked_when_the_server_starts(tiny_lm):
    with pytest.raises(ApiError, match="unknown stance"):
        Resolver(tiny_lm, default=SteeringRequest(stance="nope"))
    res = Resolver(tiny_lm, [get_stance("formal")], default=SteeringRequest(stance="formal"))
    assert res.plan(None).source == "stance:formal"
    assert res.plan(None).describe()["method"] == "sara"
