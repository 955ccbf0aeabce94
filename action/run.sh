#!/usr/bin/env bash
# Run one pmpc command for the GitHub Action: the markdown goes to the job summary and a file for the
# comment step, the exit code and what it means go to the step's outputs. Always exits 0: the action's
# last step fails the job, after the comment was posted, when pmpc failed.
#
# Environment: PMPC_ACTION_COMMAND (plan | drift | apply), PMPC_ACTION_PLAN_FILE, PMPC_ACTION_CONTEXT,
# and GitHub's GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP. pmpc reads its own PMPC_* settings.
set -uo pipefail

command=${PMPC_ACTION_COMMAND:-plan}
plan_file=${PMPC_ACTION_PLAN_FILE:-pmpc-plan.json}
work="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/pmpc-action"
mkdir -p "$work"
markdown="$work/$command.md"
errors="$work/$command.stderr"
global=()
if [ -n "${PMPC_ACTION_CONTEXT:-}" ]; then
  global+=(--context "$PMPC_ACTION_CONTEXT")
fi

has_changes=false
case "$command" in
  plan)
    pmpc "${global[@]}" plan --out "$plan_file" --detailed-exitcode -o markdown >"$markdown" 2>"$errors"
    code=$?
    [ "$code" -eq 2 ] && has_changes=true
    ;;
  drift)
    pmpc "${global[@]}" state drift --detailed-exitcode -o markdown >"$markdown" 2>"$errors"
    code=$?
    [ "$code" -eq 2 ] && has_changes=true
    ;;
  apply)
    log="$work/apply.log"
    pmpc "${global[@]}" apply "$plan_file" -y >"$log" 2>"$errors"
    code=$?
    if [ "$code" -eq 0 ] && grep -q '^Apply complete:' "$log"; then
      has_changes=true
    fi
    # shellcheck disable=SC2016 # the backticks are markdown
    {
      printf '### pmpc apply\n\n'
      printf 'Applied `%s`.\n\n```text\n' "$plan_file"
      cat "$log"
      printf '```\n'
    } >"$markdown"
    ;;
  *)
    echo "::error::pmpc action: unknown command '$command': use plan, drift or apply."
    # shellcheck disable=SC2016 # the backticks are markdown
    printf '### pmpc\n\nUnknown command `%s`: use plan, drift or apply.\n' "$command" >"$markdown"
    : >"$errors"
    code=64
    ;;
esac

cat "$errors" >&2
ok_codes=" 0 "
if [ "$command" != apply ]; then
  ok_codes=" 0 2 "
fi
if [[ "$ok_codes" != *" $code "* ]]; then
  {
    printf '\n**pmpc %s failed (exit %s).**\n\n```text\n' "$command" "$code"
    tail -n 40 "$errors"
    printf '```\n'
  } >>"$markdown"
fi

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$markdown" >>"$GITHUB_STEP_SUMMARY"
fi
saved=""
if [ "$command" != drift ] && [ -f "$plan_file" ]; then
  saved=$(cd "$(dirname "$plan_file")" && pwd)/$(basename "$plan_file")
fi
{
  echo "exit_code=$code"
  echo "has_changes=$has_changes"
  echo "plan_file=$saved"
  echo "markdown_file=$markdown"
} >>"${GITHUB_OUTPUT:-/dev/null}"
exit 0
