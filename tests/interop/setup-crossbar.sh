#!/usr/bin/env bash
# Installs Crossbar.io 26.10.1 (tests/interop/crossbar-requirements.txt, every
# package pinned) into $INTEROP_DIR/crossbar-venv, for the link interop tests
# (tests/links_crossbar.rs) and the link figures (benches/links/run).
# INTEROP_DIR defaults to target/interop under the repository root. Prints
# the path of the venv's `crossbar` executable as its last line.
#
# Idempotent and fast when nothing changed: a stamp keyed on the pinned
# requirements, this script, the interpreter's version and the venv's path skips the
# install. Safe to run concurrently (cargo nextest runs tests in separate
# processes): the run holds an flock on $INTEROP_DIR/.setup-crossbar.lock (its
# own, so that the autobahn clients' setup, tests/interop/setup.sh, does not
# wait on this longer install).
#
# Any failure exits non-zero with a message saying what is missing: the tests
# fail, they never skip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="${INTEROP_DIR:-$root/target/interop}"

die() {
  echo "tests/interop/setup-crossbar.sh: $*" >&2
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed: $2"
}

# Crossbar.io 26.10.1 runs on CPython 3.11 and later; 3.11 is what the pins
# were made with, so it is preferred where it is installed.
if command -v python3.11 >/dev/null 2>&1; then
  python=python3.11
else
  need python3 "the Crossbar.io interop tests need Python >= 3.11 with the venv module (e.g. apt-get install python3 python3-venv)"
  python=python3
fi
need sha256sum "coreutils' sha256sum is needed to key the install stamp"
need flock "util-linux's flock is needed to serialise concurrent setups"

"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
  die "Crossbar.io 26.10.1 needs Python >= 3.11, found $("$python" --version 2>&1)"

mkdir -p "$dir" || die "cannot create $dir"
exec 9>"$dir/.setup-crossbar.lock" || die "cannot open $dir/.setup-crossbar.lock"
flock 9 || die "cannot lock $dir/.setup-crossbar.lock"

venv="$dir/crossbar-venv"
key="$(
  {
    cat "$here/crossbar-requirements.txt" "$here/setup-crossbar.sh"
    "$python" --version 2>&1
    echo "$venv" # a venv does not survive being moved
  } | sha256sum | cut -d' ' -f1
)"
stamp="$venv/.shardwamp-crossbar-stamp"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$key" && -x "$venv/bin/crossbar" ]]; then
  echo "setup-crossbar.sh: crossbar venv up to date ($venv)" >&2
else
  echo "setup-crossbar.sh: creating $venv (Crossbar.io 26.10.1: a few minutes)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv" ||
    die "'$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
  # bjdata (a dependency of autobahn's serialization extra) has no wheel:
  # its sdist builds a C extension, so a C compiler must be there.
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    --prefer-binary -r "$here/crossbar-requirements.txt" >&2 ||
    die "pip install -r tests/interop/crossbar-requirements.txt failed (is PyPI reachable? bjdata needs a C compiler)"
  # bjdata's wheel, built in an isolated build against whatever numpy that
  # build fetched, fails to import against the venv's numpy 2 ("_ARRAY_API
  # not found", and the router worker prints a traceback): build it again
  # against the venv's own numpy.
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    --no-cache-dir --force-reinstall --no-deps --no-build-isolation \
    --no-binary bjdata "$(grep -i '^bjdata==' "$here/crossbar-requirements.txt")" >&2 ||
    die "rebuilding bjdata against the venv's numpy failed (a C compiler is needed)"
  err="$("$venv/bin/python" -c 'import bjdata' 2>&1)" || die "bjdata does not import: $err"
  [[ -z "$err" ]] || die "bjdata imports with errors: $err"
  version="$("$venv/bin/python" -c 'import crossbar; print(crossbar.__version__)' 2>/dev/null)" ||
    die "Crossbar.io is installed but does not import"
  [[ "$version" == "26.10.1" ]] || die "expected Crossbar.io 26.10.1, found $version"
  "$venv/bin/crossbar" version >/dev/null 2>&1 ||
    die "'crossbar version' fails in $venv (run it to see why)"
  echo "$key" >"$stamp"
fi
echo "$venv/bin/crossbar"
