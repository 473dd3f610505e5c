#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the browser test, if they are missing.
# Never fails the build: without them the browser test skips and says why.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver for the browser test..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
    >/tmp/sara-install-browser.log 2>&1 \
    || echo "could not install chromium (see /tmp/sara-install-browser.log); the browser test will skip"
else
  echo "chromium not found and apt-get unavailable as root; the browser test will skip"
fi
exit 0
