#!/usr/bin/env bash
# The browser that the report viewer's tests drive (tests/test_scan/test_slice_viewer.py):
# Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver).
# `make test` runs this first. It installs them where it runs as root with apt-get (as
# CI does); elsewhere it says what to install, and the browser tests skip naming what
# is missing.
set -uo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
packages="chromium chromium-driver"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "[browser] /usr/bin/chromium or /usr/bin/chromedriver missing: install Debian's" \
       "$packages (as root: apt-get install $packages) to run the browser tests;" \
       "they skip without them"
  exit 0
fi
echo "[browser] installing Debian's $packages for the report viewer's tests"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q $packages >/dev/null; then
  apt-get update -q >/dev/null && apt-get install -y -q $packages >/dev/null || \
    echo "[browser] apt-get could not install $packages: the browser tests will skip"
fi
