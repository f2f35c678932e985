#!/usr/bin/env bash
# Installs the real WAMP clients the interop tests (tests/interop.rs) drive,
# and the WebSocket test suite tests/autobahn.rs drives:
#   - autobahn-python with its [encryption] extra (PyNaCl, for cryptosign) and
#     kosoku (tests/interop/requirements.txt) into $INTEROP_DIR/venv
#   - autobahn-js (tests/interop/package.json + package-lock.json; its
#     dependency tweetnacl does cryptosign) into
#     $INTEROP_DIR/node/node_modules
# INTEROP_DIR defaults to target/interop under the repository root.
#
# Idempotent and fast when nothing changed: each half writes a stamp file keyed
# on its pinned inputs (and the interpreter version); a matching stamp skips it.
# Safe to run concurrently (cargo nextest runs tests in separate processes):
# the whole run holds an flock on $INTEROP_DIR/.setup.lock.
#
# Any failure exits non-zero with a message saying what is missing: the tests
# fail, they never skip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="${INTEROP_DIR:-$root/target/interop}"

die() {
  echo "tests/interop/setup.sh: $*" >&2
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed: $2"
}

need python3 "the interop tests need Python >= 3.11 with the venv module (e.g. apt-get install python3 python3-venv)"
need node "the interop tests need Node.js >= 20 (https://nodejs.org)"
need npm "the interop tests need npm (it comes with Node.js)"
need sha256sum "coreutils' sha256sum is needed to key the install stamps"
need flock "util-linux's flock is needed to serialise concurrent setups"

mkdir -p "$dir" || die "cannot create $dir"
exec 9>"$dir/.setup.lock" || die "cannot open $dir/.setup.lock"
flock 9 || die "cannot lock $dir/.setup.lock"

# ---------------------------------------------------------------- python ---
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
  die "autobahn 26.x needs Python >= 3.11, found $(python3 --version 2>&1)"

venv="$dir/venv"
py_key="$(
  {
    cat "$here/requirements.txt"
    python3 --version 2>&1
    echo "$venv" # a venv does not survive being moved
  } | sha256sum | cut -d' ' -f1
)"
py_stamp="$venv/.shardwamp-interop-stamp"

if [[ -f "$py_stamp" && "$(cat "$py_stamp")" == "$py_key" && -x "$venv/bin/python" ]]; then
  echo "setup.sh: python venv up to date ($venv)"
else
  echo "setup.sh: creating $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" ||
    die "'python3 -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    --prefer-binary -r "$here/requirements.txt" ||
    die "pip install -r tests/interop/requirements.txt failed (is PyPI reachable?)"
  "$venv/bin/python" -c 'import autobahn.asyncio.component, msgpack, cbor2, ujson' ||
    die "autobahn-python is installed but does not import"
  "$venv/bin/python" -c 'from autobahn.wamp.cryptosign import HAS_CRYPTOSIGN; import nacl.signing; assert HAS_CRYPTOSIGN' ||
    die "autobahn-python's cryptosign (autobahn[encryption]: PyNaCl) does not import"
  "$venv/bin/python" -c 'from kosoku import run_fuzzingclient' ||
    die "kosoku is installed but does not import (it is a native wheel: is there one for this platform?)"
  echo "$py_key" >"$py_stamp"
fi

# ------------------------------------------------------------------ node ---
node_major="$(node -p 'process.versions.node.split(".")[0]')" || die "node does not run"
((node_major >= 20)) || die "autobahn-js needs Node.js >= 20 (22+ preferred), found $(node --version)"

nodedir="$dir/node"
js_key="$(
  {
    cat "$here/package.json" "$here/package-lock.json"
    node --version
  } | sha256sum | cut -d' ' -f1
)"
js_stamp="$nodedir/.shardwamp-interop-stamp"

if [[ -f "$js_stamp" && "$(cat "$js_stamp")" == "$js_key" && -d "$nodedir/node_modules/autobahn" ]]; then
  echo "setup.sh: node_modules up to date ($nodedir)"
else
  echo "setup.sh: npm ci in $nodedir"
  rm -rf "$nodedir"
  mkdir -p "$nodedir"
  cp "$here/package.json" "$here/package-lock.json" "$nodedir/"
  # autobahn-js 26.x declares node >= 22 (for the global WebSocket); on
  # Node 20 the tests enable it with --experimental-websocket, so the engine
  # check must only warn.
  (cd "$nodedir" && npm ci --no-audit --no-fund --engine-strict=false --loglevel=error) ||
    die "npm ci of tests/interop/package-lock.json failed (is the npm registry reachable?)"
  (cd "$nodedir" && node -e 'require("autobahn"); require("when"); require("msgpack5"); require("cbor")') ||
    die "autobahn-js is installed but does not load"
  echo "$js_key" >"$js_stamp"
fi
