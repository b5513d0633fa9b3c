#!/usr/bin/env bash
# Registry server benchmark (issue 5, "Speed": the server at least as fast as distribution 2.8):
# the same `skopeo copy` push and pull of a ~300 MiB image against berth's registry server and
# against Debian's docker-registry (distribution 2.8), on loopback, side by side; medians and ratios.
#
# The image is the issue's test image (busybox rootfs + 2 x LAYER_MIB random + LAYER_MIB text),
# built offline with crates/berth/tests/images/fixtures.py and turned once into an OCI layout with
# gzip'd layers (so that pushes send the blobs as they are, without recompressing).
# Each push goes to an empty registry (both servers are restarted on a wiped root before each run);
# each pull copies into an empty OCI directory.
#
# Usage: bench/registry-server.sh     env: RUNS=5 LAYER_MIB=100 BENCH_DIR=/var/tmp
#   SERVE=path/to/serve (default: cargo build --release -p berth-registry --example serve)
#   DOCKER_REGISTRY=/usr/bin/docker-registry
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
RUNS=${RUNS:-5}
LAYER_MIB=${LAYER_MIB:-100}
DOCKER_REGISTRY=${DOCKER_REGISTRY:-/usr/bin/docker-registry}
FIXTURES=$REPO/crates/berth/tests/images/fixtures.py
need() { command -v "$1" >/dev/null || { echo "bench/registry-server.sh: $1 is not installed" >&2; exit 1; }; }
need skopeo
need hyperfine
need python3
[ -x "$DOCKER_REGISTRY" ] || { echo "bench/registry-server.sh: $DOCKER_REGISTRY missing" >&2; exit 1; }

if [ "${1:-}" = "_restart" ]; then
  # Internal: (re)start one server on a wiped root. $2 = berth|distribution, $3 = work dir.
  W=$3
  if [ -f "$W/$2.pid" ]; then kill "$(cat "$W/$2.pid")" 2>/dev/null || true; sleep 0.2; fi
  rm -rf "$W/$2-root"; mkdir -p "$W/$2-root"
  if [ "$2" = berth ]; then
    "$(cat "$W/serve.path")" --addr 127.0.0.1:5101 --root "$W/berth-root" >"$W/berth.log" 2>&1 &
    echo $! >"$W/berth.pid"; PORT=5101
  else
    "$DOCKER_REGISTRY" serve "$W/distribution.yml" >"$W/distribution.log" 2>&1 &
    echo $! >"$W/distribution.pid"; PORT=5102
  fi
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && exit 0
    sleep 0.05
  done
  echo "server $2 did not start" >&2; exit 1
fi

if [ -z "${SERVE:-}" ]; then
  echo "== building berth-registry's serve example (release)" >&2
  cargo build --release -p berth-registry --example serve --quiet
  SERVE="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/serve"
fi
SERVE=$(realpath "$SERVE")

WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/berth-regbench.XXXXXX")
cleanup() {
  for s in berth distribution; do
    [ -f "$WORK/$s.pid" ] && kill "$(cat "$WORK/$s.pid")" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
echo "$SERVE" >"$WORK/serve.path"
cat >"$WORK/distribution.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/distribution-root
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5102
YML

echo "== building the test image in $WORK" >&2
mkdir -p "$WORK/fx"
python3 "$FIXTURES" rootfs-tar "$WORK/fx/busybox.tar"
python3 "$FIXTURES" random-tar "$WORK/fx/random1.tar" "$LAYER_MIB" --name random1
python3 "$FIXTURES" random-tar "$WORK/fx/random2.tar" "$LAYER_MIB" --name random2
python3 "$FIXTURES" text-tar "$WORK/fx/text.tar" "$LAYER_MIB" --name text
python3 "$FIXTURES" archive "$WORK/fx/image.tar" --tag localhost/bench:1 \
  --layer "$WORK/fx/busybox.tar" --layer "$WORK/fx/random1.tar" \
  --layer "$WORK/fx/random2.tar" --layer "$WORK/fx/text.tar" >/dev/null
rm -f "$WORK"/fx/{busybox,random1,random2,text}.tar
skopeo copy -q docker-archive:"$WORK/fx/image.tar" oci:"$WORK/img:1"
rm -f "$WORK/fx/image.tar"
MIB=$(du -sm "$WORK/img" | cut -f1)
echo "== image: OCI layout $WORK/img, $MIB MiB (gzip'd layers)" >&2

RESTART="$REPO/bench/registry-server.sh _restart"
bash $RESTART berth "$WORK"
bash $RESTART distribution "$WORK"
PUSH="skopeo copy -q --dest-tls-verify=false oci:$WORK/img:1"
PULL="skopeo copy -q --src-tls-verify=false"

echo "== push to an empty registry ($RUNS runs each)" >&2
hyperfine --style basic --runs "$RUNS" --export-json "$WORK/push.json" \
  -n "distribution push" --prepare "bash $RESTART distribution $WORK" \
  "$PUSH docker://127.0.0.1:5102/bench/img:1" \
  -n "berth push" --prepare "bash $RESTART berth $WORK" \
  "$PUSH docker://127.0.0.1:5101/bench/img:1" >&2

echo "== pull into an empty OCI dir ($RUNS runs each)" >&2
hyperfine --style basic --runs "$RUNS" --export-json "$WORK/pull.json" \
  -n "distribution pull" --prepare "rm -rf $WORK/out; sync" \
  "$PULL docker://127.0.0.1:5102/bench/img:1 oci:$WORK/out:1" \
  -n "berth pull" --prepare "rm -rf $WORK/out; sync" \
  "$PULL docker://127.0.0.1:5101/bench/img:1 oci:$WORK/out:1" >&2

python3 - "$WORK/push.json" "$WORK/pull.json" "$MIB" <<'PY'
import json, sys
mib = float(sys.argv[3])
print(f"image: {mib:.0f} MiB on the wire")
for path in sys.argv[1:3]:
    res = {r["command"]: r["median"] for r in json.load(open(path))["results"]}
    names = list(res)
    d, b = res[names[0]], res[names[1]]
    print(f"{names[0]:20s} median {d:6.2f} s  ({mib / d:6.0f} MiB/s)")
    print(f"{names[1]:20s} median {b:6.2f} s  ({mib / b:6.0f} MiB/s)   distribution/berth = {d / b:.2f}x")
PY
