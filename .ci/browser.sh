#!/usr/bin/env bash
# The dashboard's browser test drives Debian's chromium through Playwright (which must not download
# a browser of its own: nothing but package registries is reachable). Install it only when missing,
# so running this twice is harmless.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q chromium
fi
/usr/bin/chromium --version
