"""Runs sharded over processes (sara_core.distributed): the launch, the split, the checks."""

from __future__ import annotations

import pytest
from thread_shards import run_ranks

from sara_core import distributed as D
from sara_core.cli import main
from sara_core.validation import InputError


def test_the_launch_comes_from_torchruns_variables():
    assert D.Launch.from_env({}) == D.Launch(0, 1, 0, False, D.DEFAULT_WAIT_S)
    got = D.Launch.from_env(
        {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "ACCELERATE_USE_CPU": "true"}
    )
    assert (got.rank, got.world, got.local_rank, got.force_cpu, got.main) == (3, 4, 1, True, False)
    assert D.Launch.from_env({"SARA_DIST_TIMEOUT": "60"}).wait_s == 60


@pytest.mark.parametrize(
    "env, name",
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE"),
        ({"WORLD_SIZE": "0"}, "WORLD_SIZE"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK"),
        ({"SARA_DIST_TIMEOUT": "1"}, "SARA_DIST_TIMEOUT"),
    ],
)
def test_bad_launch_variables_are_named(env, name):
    with pytest.raises(InputError, match=name):
        D.Launch.from_env(env)


def test_work_is_dealt_round_robin_and_covers_everything_once():
    units = list(range(10))
    dealt = [D.Shard(D.Launch(rank=r, world=3)).mine(units) for r in range(3)]
    assert dealt == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert D.Shard(D.Launch(rank=4, world=5)).mine([0, 1]) == []  # an idle process
    assert D.Shard().mine(units) == units


def test_one_process_needs_no_process_group():
    shard = D.Shard()
    assert shard.all_gather(1) == [1] and shard.gather(2) == [2] and shard.broadcast(3) == 3
    assert shard.decide(lambda: "ok") == "ok" and shard.agree({"a": 1}) == D.fingerprint({"a": 1})
    shard.begin()
    shard.add_done(2)
    shard.add_done(3)
    assert shard.done() == 5
    shard.begin()
    assert shard.done() == 0
    shard.wait_all(10)  # returns at once: there is nobody to wait for
    with D.open_shard(None) as one:
        assert one.world == 1 and one.device is None and one.where == ""


def test_the_fingerprint_ignores_key_order_and_sees_every_value():
    a = D.fingerprint({"seed": 1, "layers": [3, 6]})
    assert a == D.fingerprint({"layers": [3, 6], "seed": 1})
    assert a != D.fingerprint({"seed": 1, "layers": [3, 7]})
    assert D.differing({"seed": 1, "x": [1]}, {"seed": 2, "x": [1]}) == ["seed"]


def test_processes_with_other_settings_are_refused_by_the_main_one_only():
    def work(shard):
        return shard.agree({"seed": 1 if shard.rank != 2 else 5, "layers": [3]}, "the settings")

    main_error, first, quiet = run_ranks(3, work)
    assert isinstance(main_error, InputError) and isinstance(quiet, D.QuietExit)
    assert str(main_error) == (
        "the 3 processes do not agree on the settings: process 2 differs from process 0 in "
        "seed; give every process the same command and files"
    )
    assert isinstance(first, D.QuietExit)
    same = run_ranks(2, lambda shard: shard.agree({"seed": 1}))
    assert same[0] == same[1] == D.fingerprint({"seed": 1})


def test_a_check_on_the_main_process_stops_every_process():
    def refuse():
        raise InputError("that folder holds other settings")

    results = run_ranks(2, lambda shard: shard.decide(refuse))
    assert isinstance(results[0], InputError) and isinstance(results[1], D.QuietExit)
    assert run_ranks(2, lambda shard: shard.decide(lambda: shard.rank)) == [0, 0]


def test_the_cpu_when_asked_or_without_gpus():
    assert D.device_for(D.Launch(world=2, force_cpu=True)) == "cpu"


def test_commands_that_do_not_shard_are_refused_under_a_launcher(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["presets"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "presets runs in one process" in err[0] and "torchrun" not in err[0]
    monkeypatch.setenv("RANK", "1")
    assert main(["presets"]) == 2
    assert capsys.readouterr().err == ""  # the main process says it, once
    monkeypatch.setenv("WORLD_SIZE", "many")
    assert main(["presets"]) == 2
    assert "WORLD_SIZE" in capsys.readouterr().err
