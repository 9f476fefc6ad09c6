#!/usr/bin/env bash
# The body of the root action.yml: every selected check, each one run even when an earlier one
# failed, then the PR comment's body, then the failure policy.
#
# Inputs come only through the environment (never expanded into the script): UNTRUSTED_CONFIG,
# UNTRUSTED_BASELINE, UNTRUSTED_STEPS, UNTRUSTED_FAIL_ON, UNTRUSTED_LINT_FAIL_ON,
# UNTRUSTED_LATENCY_SAMPLES, UNTRUSTED_BASE_IMAGE, UNTRUSTED_OUTPUT_DIR. The CLI commands write
# their own annotations, job summaries and step outputs (verdict, report, body, blocked, image).
set -uo pipefail

fail_usage() {
  echo "::error title=mlrelease pr-check: invalid input '$1'::$2"
  exit 2
}

config=${UNTRUSTED_CONFIG:-.}
out=${UNTRUSTED_OUTPUT_DIR:-mlrelease-pr-check}
read -r -a steps <<< "${UNTRUSTED_STEPS:-lint deps gate}"
for step in "${steps[@]}"; do
  case "$step" in
    lint | deps | gate | image) ;;
    *) fail_usage steps "unknown check '$step'; choose from lint, deps, gate, image" ;;
  esac
done
case "${UNTRUSTED_FAIL_ON:-any}" in
  any | gate | never) ;;
  *) fail_usage fail-on "'${UNTRUSTED_FAIL_ON}' is not one of any, gate, never" ;;
esac
selected() { [[ " ${steps[*]} " == *" $1 "* ]]; }
if selected image && ! selected gate; then fail_usage steps "'image' needs 'gate' (it replays the evaluation's golden predictions)"; fi

mkdir -p -- "$out"
failed=()
comment_args=()
run_check() { # name, command...
  local name=$1
  shift
  echo "::group::mlrelease $name" >&2
  "$@"
  local rc=$?
  echo "::endgroup::" >&2
  if [[ $rc -ne 0 ]]; then
    [[ " ${failed[*]} " == *" $name "* ]] || failed+=("$name")
  fi
  return "$rc"
}

json_to() { # file, command...: the command's JSON to file, its workflow commands (::...) to stdout
  local file=$1
  shift
  "$@" > "$file.raw"
  local rc=$?
  grep '^::' "$file.raw"
  grep -v '^::' "$file.raw" > "$file"
  rm -f -- "$file.raw"
  [[ -s "$file" ]] || rm -f -- "$file"
  return "$rc"
}

if selected lint; then
  args=(lint -c "$config" --report "$out/lint.json" --sarif "$out/lint.sarif")
  if [[ -n "${UNTRUSTED_LINT_FAIL_ON:-}" ]]; then args+=(--fail-on "$UNTRUSTED_LINT_FAIL_ON"); fi
  run_check lint mlrelease "${args[@]}"
  if [[ -s "$out/lint.json" ]]; then comment_args+=(--lint "$out/lint.json"); fi
fi

if selected deps; then
  run_check deps json_to "$out/lock.json" mlrelease lock -c "$config" --check --json
  if [[ -s "$out/lock.json" ]]; then comment_args+=(--lock "$out/lock.json"); fi
  run_check deps mlrelease deps check -c "$config"
fi

if selected gate; then
  if run_check gate mlrelease evaluate -c "$config" -o "$out/evaluate" --latency-samples "${UNTRUSTED_LATENCY_SAMPLES:-500}"; then
    args=(gate --candidate "$out/evaluate" -c "$config" -o "$out/gate")
    if [[ -n "${UNTRUSTED_BASELINE:-}" ]]; then args+=(--baseline "$UNTRUSTED_BASELINE"); fi
    run_check gate mlrelease "${args[@]}"
    if [[ -s "$out/gate/gate.json" ]]; then comment_args+=(--gate "$out/gate/gate.json"); fi
  fi
fi

if selected image && [[ -s "$out/evaluate/golden.parquet" ]]; then
  args=(build -c "$config" --evaluation "$out/evaluate" -o "$out/image.json")
  if [[ -n "${UNTRUSTED_BASE_IMAGE:-}" ]]; then args+=(--base-image "$UNTRUSTED_BASE_IMAGE"); fi
  if run_check image mlrelease "${args[@]}"; then
    run_check image json_to "$out/image-test.json" mlrelease test-image -c "$config" --evaluation "$out/evaluate" \
      --image-json "$out/image.json" --json
    if [[ -s "$out/image-test.json" ]]; then comment_args+=(--image "$out/image-test.json"); fi
  fi
fi

if [[ ${#comment_args[@]} -gt 0 ]]; then
  mlrelease comment "${comment_args[@]}" -o "$out" || failed+=(comment)
fi

{
  echo "reports=$out"
  echo "failed-checks=${failed[*]}"
  if [[ ${#failed[@]} -gt 0 ]]; then echo "blocked=true"; else echo "blocked=false"; fi
} >> "${GITHUB_OUTPUT:-/dev/null}"

if [[ ${#failed[@]} -eq 0 ]]; then
  echo "mlrelease pr-check: every check passed (${steps[*]})"
  exit 0
fi
echo "mlrelease pr-check: failed: ${failed[*]}"
case "${UNTRUSTED_FAIL_ON:-any}" in
  any) exit 1 ;;
  gate) if [[ " ${failed[*]} " == *" gate "* ]]; then exit 1; fi ;;
esac
exit 0
