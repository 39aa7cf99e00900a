#!/bin/sh
# Install Debian's chromium for tests/test_browser.py. Idempotent: does nothing if it is there.
# Playwright (pip install playwright) drives /usr/bin/chromium directly, so no
# `playwright install` browser download is needed.
set -eu

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium
/usr/bin/chromium --version
