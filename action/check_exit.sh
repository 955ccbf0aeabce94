#!/usr/bin/env bash
# Last step of the GitHub Action: fail the job with pmpc's exit code when pmpc failed.
# CODE is pmpc's exit code; for plan and drift, 2 (changes present) is not a failure.
set -euo pipefail

code=${CODE:-1}
if [ "$code" = 0 ] || { [ "$code" = 2 ] && [ "${COMMAND:-}" != apply ]; }; then
  exit 0
fi
echo "::error::pmpc ${COMMAND:-} failed with exit code $code (see the job summary)."
exit "$code"
