"""What a search returns (sara_core.tune_result): choosing, and plain JSON."""

from __future__ import annotations

import json
import math

from sara_core.tune_result import TunePoint, TuneResult, choose


def _p(method="sara", layer=3, coeff=1.0, effect=0.1, ratio=1.0, ok=True, **kw) -> TunePoint:
    return TunePoint(method, layer, coeff, "coarse", effect, 2.0, ratio, 0.0, None, ok, "a", **kw)


def test_choose_takes_the_admissible_point_of_largest_effect():
    points = [
        _p(effect=0.3, ok=False),
        _p(layer=4, effect=0.2),
        _p(layer=5, effect=math.nan),
        _p("actadd", effect=0.9),
        _p(layer=6, effect=0.2, ratio=0.9),
    ]
    best = choose(points, "sara")
    assert best is not None and (best.layer, best.effect) == (6, 0.2)  # tie: the cheaper one
    assert choose(points, "actadd").effect == 0.9
    assert choose([_p(ok=False)], "sara") is None and choose([], "actadd") is None


def test_json_writes_nan_as_null_and_chosen_per_searched_method():
    res = TuneResult("m", "q", "a", "r", {"methods": ["actadd"]})
    res.points = [_p("actadd", effect=0.5, ratio=math.nan, ok=False), _p("actadd", effect=0.1)]
    data = json.loads(json.dumps(res.to_json(), allow_nan=False))
    assert data["grid"][0]["ppl_ratio"] is None
    assert list(data["chosen"]) == ["actadd"] and data["chosen"]["actadd"]["effect"] == 0.1
    assert data["prompted"] is None and data["unsteered"] is None and data["stopped"] is False
