#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine:
#   - a virtual environment in .venv with the pinned test dependencies (requirements-dev.txt);
#   - Debian's chromium for the browser tests (installed with apt-get when missing and we are root);
#   - pytest over tests/; "no tests collected" (exit 5) counts as a failure.
# Extra arguments go to pytest, e.g. scripts/test.sh -k risk
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "== chromium is missing and cannot be installed here (need root + apt-get): browser tests will fail" >&2
  fi
fi

echo "== setting up .venv"
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

echo "== running the tests"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: treating as a failure" >&2
  exit 1
fi
exit "$rc"
