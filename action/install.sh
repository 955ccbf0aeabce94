#!/usr/bin/env bash
# Install pmpc for the GitHub Action into its own virtual environment and put it on PATH.
# PMPC_VERSION: "latest", a release ("0.5.0"), or any pip requirement (a path, a URL).
set -euo pipefail

version=${PMPC_VERSION:-latest}
venv="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/pmpc-venv"
case "$version" in
  latest) requirement="proxmox-mpc[postgres]" ;;
  [0-9]*) requirement="proxmox-mpc[postgres]==$version" ;;
  *) requirement="$version" ;;
esac

python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$requirement"
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$venv/bin" >>"$GITHUB_PATH"
fi
"$venv/bin/pmpc" --version
