#!/usr/bin/env bash
# The body of actions/setup: install mlrelease from this action's checkout into a virtual environment.
#
# Inputs come only through the environment (never expanded into the script):
#   MLRELEASE_SOURCE  the action's repository root (${{ github.action_path }}/../..)
#   INPUT_PYTHON      interpreter that creates the environments
#   INPUT_CACHE       'true' | 'false'
#
# The locked dependencies (requirements.txt, installed with --require-hashes) live in their own
# environment, cached under $RUNNER_TOOL_CACHE by the sha256 of the lock file and the Python version.
# mlrelease itself goes into a fresh per-job environment that sees the dependencies through a .pth
# file, so a cached environment is never modified by a job and a source change needs no reinstall of
# the dependencies.
set -euo pipefail

# Workflow command values escape %, CR and LF so that an input cannot start a command of its own.
escape() {
  local value=${1//%/%25}
  value=${value//$'\r'/%0D}
  printf '%s' "${value//$'\n'/%0A}"
}

fail() { # exit-code title message
  echo "::error title=mlrelease setup: $(escape "$2")::$(escape "$3")"
  exit "$1"
}

case "${INPUT_CACHE:-true}" in
  true | false) ;;
  *) fail 2 "invalid input 'cache'" "cache must be 'true' or 'false', got '${INPUT_CACHE}'. Fix: set cache: 'true' (default) or cache: 'false'." ;;
esac

python=$(command -v -- "${INPUT_PYTHON:-python3}" || true)
if [[ -z "$python" ]]; then
  fail 2 "invalid input 'python'" "Python interpreter '${INPUT_PYTHON}' not found. Fix: set python: to a command on PATH or an absolute path (3.11 or newer)."
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  fail 2 "invalid input 'python'" "'${INPUT_PYTHON}' is not Python 3.11 or newer. Fix: set python: to a Python 3.11+ interpreter."
fi

source_dir=$(cd -- "${MLRELEASE_SOURCE:?}" && pwd -P)
for required in requirements.txt pyproject.toml src/mlrelease; do
  [[ -e "$source_dir/$required" ]] || fail 1 "broken checkout" "$source_dir/$required is missing: the action's checkout is incomplete."
done

temp_root=${RUNNER_TEMP:-$(mktemp -d)}
key=$(
  {
    cat -- "$source_dir/requirements.txt"
    "$python" -c 'import platform, sys; print(sys.implementation.cache_tag, sys.version, platform.machine())'
  } | sha256sum | cut -c1-16
)
if [[ "${INPUT_CACHE:-true}" == true ]]; then
  deps="${RUNNER_TOOL_CACHE:-$temp_root}/mlrelease-deps/$key"
else
  deps="$temp_root/mlrelease-deps-$key"
  rm -rf -- "$deps"
fi

install_deps() {
  if [[ -f "$deps/.complete" ]]; then
    echo "Reusing locked dependencies from $deps"
    return
  fi
  echo "Installing locked dependencies into $deps"
  rm -rf -- "$deps"
  "$python" -m venv "$deps"
  "$deps/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --require-hashes \
    -r "$source_dir/requirements.txt"
  touch "$deps/.complete"
}

mkdir -p -- "$(dirname -- "$deps")"
if command -v flock >/dev/null; then
  # Jobs on one self-hosted runner share the cache: one fills it, the others wait and reuse it.
  exec 9>"$deps.lock"
  flock 9
  install_deps
  flock -u 9
else
  install_deps
fi

# mlrelease itself: a fresh environment per job, dependencies seen through a .pth file.
venv="$temp_root/mlrelease-venv"
rm -rf -- "$venv"
"$python" -m venv --without-pip "$venv"
site_packages=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
"$deps/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))' >"$site_packages/mlrelease-deps.pth"

# Build from a copy so that the action's checkout stays untouched (no build/ or egg-info in it).
build_dir=$(mktemp -d "$temp_root/mlrelease-src.XXXXXX")
trap 'rm -rf -- "$build_dir"' EXIT
cp -R -- "$source_dir/pyproject.toml" "$source_dir/src" "$build_dir/"
for extra in README.md LICENSE setup.cfg MANIFEST.in; do
  if [[ -e "$source_dir/$extra" ]]; then cp -- "$source_dir/$extra" "$build_dir/"; fi
done
find "$build_dir/src" \( -name '*.egg-info' -o -name __pycache__ \) -prune -exec rm -rf {} +
# A wheel first, with a fixed timestamp so equal sources give equal bytes: `mlrelease build` installs
# this same wheel into the image (MLRELEASE_WHEEL), since an installed mlrelease cannot rebuild itself.
wheel_dir="$temp_root/mlrelease-wheel"
rm -rf -- "$wheel_dir"
mkdir -p -- "$wheel_dir"
SOURCE_DATE_EPOCH=315532800 "$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-input \
  --no-deps --no-build-isolation --wheel-dir "$wheel_dir" "$build_dir"
wheels=("$wheel_dir"/mlrelease-*.whl)
[[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || fail 1 "wheel build" "expected one mlrelease wheel in $wheel_dir"
wheel=${wheels[0]}
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps "$wheel"

version=$("$venv/bin/mlrelease" --version)
version=${version##* }

# A later line of GITHUB_PATH comes first on PATH: mlrelease's environment before the dependencies'.
echo "$deps/bin" >>"$GITHUB_PATH"
echo "$venv/bin" >>"$GITHUB_PATH"
echo "MLRELEASE_WHEEL=$wheel" >>"$GITHUB_ENV"
{
  echo "version=$version"
  echo "python-path=$venv/bin/python"
  echo "wheel=$wheel"
} >>"$GITHUB_OUTPUT"
echo "Installed mlrelease $version ($venv/bin/mlrelease)"
