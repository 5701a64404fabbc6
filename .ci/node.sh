#!/usr/bin/env bash
# The official SuperOffice client's test (tests/server/test_superoffice_client.py) runs @superoffice/webapi under
# Node and installs it with npm. Debian's nodejs and npm, installed only when missing, so running this
# twice is harmless.
set -euo pipefail
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q nodejs npm
fi
node --version
npm --version
