"""Which models the app loads (sara_lab.hub): the allowlist and the download cap, with a stub
for the hub (nothing is downloaded or even asked over the network)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import make_tiny_lm
from lab_fixtures import tiny_lab

from sara_core.models.names import EMBEDDED_ID
from sara_lab.hub import ModelPolicy, ModelRefused, download_bytes
from sara_lab.lab import make_lab
from sara_lab.model_manager import LoadFailed
from sara_lab.settings import Settings

GB = 1_000_000_000
REPOS = {
    "small/model": {
        "config.json": 700,
        "model.safetensors": GB // 2,
        "tokenizer.json": 2_000_000,
        "pytorch_model.bin": GB // 2,  # an older copy of the weights: not fetched
        "model.gguf": 10 * GB,  # another format: not fetched
        "onnx/model.onnx": 3 * GB,  # a subfolder: not fetched
    },
    "big/model": {
        "config.json": 700,
        "model-00001-of-00002.safetensors": 5 * GB,
        "model-00002-of-00002.safetensors": 3 * GB,
    },
    "old/model": {"config.json": 700, "pytorch_model.bin": 2 * GB},
    "odd/model": {"config.json": 700, "model.safetensors": None},
}


def stub(asked: list[str]):
    def files(repo: str):
        asked.append(repo)
        if repo not in REPOS:
            raise RuntimeError("404 from https://huggingface.co/api/models/" + repo)
        return REPOS[repo]

    return files


def test_download_size_counts_what_from_pretrained_fetches():
    assert download_bytes(REPOS["small/model"]) == 700 + GB // 2 + 2_000_000
    assert download_bytes(REPOS["big/model"]) == 8 * GB + 700
    assert download_bytes(REPOS["old/model"]) == 2 * GB + 700  # no safetensors: the .bin
    assert download_bytes(REPOS["odd/model"]) is None  # a size the hub did not give


def test_hub_models_over_the_cap_are_refused_before_any_download():
    asked: list[str] = []
    policy = ModelPolicy(online=True, max_download_bytes=6 * GB, files=stub(asked))
    policy.check("small/model")
    policy.check("old/model")
    with pytest.raises(ModelRefused, match="big/model is too large.*8,000 MB.*limit is 6,000 MB"):
        policy.check("big/model")
    with pytest.raises(ModelRefused, match="could not check the size of 'odd/model'"):
        policy.check("odd/model")
    with pytest.raises(ModelRefused, match="could not check the size of 'no/such'") as info:
        policy.check("no/such")
    assert "huggingface.co" not in str(info.value)  # the hub's own text stays in the log
    assert asked == ["small/model", "old/model", "big/model", "odd/model", "no/such"]


def test_a_hub_gguf_file_counts_that_file_alone():
    """``owner/repo:file.gguf`` fetches one file: its size decides, not the repo's others."""
    asked: list[str] = []
    policy = ModelPolicy(online=True, max_download_bytes=6 * GB, files=stub(asked))
    with pytest.raises(ModelRefused, match="small/model:model.gguf is too large.*10,000 MB"):
        policy.check("small/model:model.gguf")
    with pytest.raises(ModelRefused, match="could not check the size of 'small/model:no.gguf'"):
        policy.check("small/model:no.gguf")
    assert asked == ["small/model", "small/model"]
    ModelPolicy(online=True, max_download_bytes=11 * GB, files=stub(asked)).check(
        "small/model:model.gguf"
    )


def test_what_is_not_checked_against_the_hub(tmp_path):
    asked: list[str] = []
    policy = ModelPolicy(online=True, max_download_bytes=GB, trusted="big/model", files=stub(asked))
    policy.check("big/model")  # the operator's own SARA_MODEL
    policy.check(EMBEDDED_ID)  # shipped in a wheel
    policy.check(str(tmp_path))  # a local folder
    replace(policy, online=False).check("other/big")  # offline: nothing can be downloaded
    replace(policy, max_download_bytes=0).check("other/big")  # no cap set
    assert asked == []


def test_public_mode_allows_only_the_allowlist_whatever_the_path():
    policy = ModelPolicy(public=True, allowlist=("a/b", EMBEDDED_ID))
    policy.check("a/b")
    for name in ("c/d", "/etc", "../models", ""):
        with pytest.raises(ModelRefused, match="only serves these models: a/b, embedded"):
            policy.check(name)


def test_the_lab_applies_the_policy_on_every_load(tmp_path):
    tiny = make_tiny_lm("llama")
    settings = replace(
        Settings.from_env({"SARA_MAX_DOWNLOAD_MB": "6000"}),
        model="tiny",
        online=True,
        allowlist=("tiny",),
    )
    asked: list[str] = []
    lab = make_lab(settings, loader=lambda name: tiny, hub=stub(asked))
    with pytest.raises(LoadFailed, match="too large"):
        lab.models.get("big/model")
    assert lab.models.get("small/model") is tiny
    public = tiny_lab(tiny, public=True)
    with pytest.raises(LoadFailed, match="only serves these models"):
        public.models.get(str(tmp_path))  # a folder, asked for by any path that loads a model


def test_public_mode_never_serves_a_random_weight_model_even_if_listed():
    policy = ModelPolicy(public=True, allowlist=("random:gemma-2-2b", "a/b"), online=True)
    for name in ("random:gemma-2-2b", "random:no-such-shape", "random:"):
        with pytest.raises(ModelRefused, match="random-weight models .* does not serve them"):
            policy.check(name)
    asked: list[str] = []
    private = ModelPolicy(online=True, max_download_bytes=GB, files=stub(asked))
    private.check("random:gemma-2-2b")  # off public mode it is the loader's to build
    assert asked == []  # and never a hub id: its size is not asked
    env = {"SARA_MODEL": "random:gemma-2-2b", "SARA_ALLOWED_MODELS": "a/b, random:qwen2.5-0.5b"}
    public = Settings.from_env({**env, "HF_HUB_OFFLINE": "1", "SARA_PUBLIC": "1"})
    assert public.allowlist == ("a/b",)  # not even the operator's own SARA_MODEL
    assert "random:gemma-2-2b" in Settings.from_env({**env, "HF_HUB_OFFLINE": "1"}).allowlist


def test_a_hub_failure_while_checking_the_size_says_which_in_one_line():
    import httpx2
    from huggingface_hub import errors as hf

    def files(repo: str):
        if repo == "no/network":
            raise httpx2.ConnectError("[Errno -2] Name or service not known")
        response = httpx2.Response(401, request=httpx2.Request("GET", "https://hub/" + repo))
        raise hf.RepositoryNotFoundError("401 Client Error", response=response)

    policy = ModelPolicy(online=True, max_download_bytes=GB, files=files)
    with pytest.raises(ModelRefused, match=r"^cannot reach the Hugging Face hub .* no/network"):
        policy.check("no/network")
    with pytest.raises(ModelRefused, match=r"^no/such is neither a local folder nor a model"):
        policy.check("no/such")
