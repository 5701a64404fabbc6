#!/usr/bin/env bash
# The documentation site: installs the docs extra into CI's virtual environment (made by .ci/run) and builds
# the site with `mkdocs build --strict`, which fails on any warning: a page missing from the nav, a broken
# link or anchor, an example file that is not there, a docstring mkdocstrings cannot read. The site goes to
# a temporary folder and is thrown away: it is never committed. (tests/package/test_docs.py runs the examples.)
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/pip install -q -e ".[docs]"
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
# Material's banner about MkDocs 2.0 is advice, not a warning about this site.
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir "$site"
echo "docs: mkdocs build --strict passed"
