#!/usr/bin/env bash
# The whole test suite from a fresh Debian machine (as root): installs what it needs, then runs pytest.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the suite starts for real (servers are started by fixtures on loopback ports).
DEBIAN_PACKAGES=(python3 python3-venv python3-dev gcc curl
  redis-server etcd-server docker.io busybox-static chromium
  pebble bind9 bind9-dnsutils nghttp2-client)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "missing Debian packages: ${missing[*]} (run as root)" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# The example middleware plugin (entry point group traefikpy.middlewares) the plugin tests load.
.venv/bin/python -m pip install -q --disable-pip-version-check ./examples/plugin
# Lint and strict typing of the three packages are part of the suite.
.venv/bin/ruff check --quiet .
.venv/bin/mypy --no-error-summary
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
