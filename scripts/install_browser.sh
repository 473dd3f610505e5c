#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the browser test, if they are missing.
# With SARA_REQUIRE_BROWSER=1 (set by .ci/run) a failed install fails the build; on a laptop it
# only warns, and the browser test then skips and says why.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
fail() {
  echo "$1"
  if [ "${SARA_REQUIRE_BROWSER:-0}" = "1" ]; then exit 1; fi
  exit 0
}
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver for the browser test..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
    >/tmp/sara-install-browser.log 2>&1 \
    || fail "could not install chromium (see /tmp/sara-install-browser.log); the browser test will skip"
else
  fail "chromium not found and apt-get unavailable as root; the browser test will skip"
fi
exit 0
