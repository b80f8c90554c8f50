#!/usr/bin/env bash
# Quick start from a fresh Debian machine (as root): installs what it needs, then runs traefikpy on
# the example configuration with two demo backends. Extra arguments are passed as static flags.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
for pkg in python3 python3-venv python3-dev gcc; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ "${#need[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/traefikpy quickstart "$@"
