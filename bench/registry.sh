#!/usr/bin/env bash
# Registry client benchmark (issue 5, "Speed"): berth vs podman vs skopeo, side by side in one run.
#
# Builds bench/image.sh's test image offline (busybox rootfs + 100 MiB random + 100 MiB random +
# 100 MiB text, ~302 MiB), seeds it gzip-compressed into Debian's docker-registry (distribution
# 2.8) on a free loopback port with `skopeo copy`, then times with hyperfine:
#   pull: `berth pull` (fully unpacked, ready to run) vs `podman pull` vs `skopeo copy` to an OCI
#         dir (no unpacking), each run on an empty store;
#   push: each tool pushing the image to a second, emptied registry.
# Prints medians and ratios against the targets (pull >= 3x podman and within 1.5x of skopeo;
# push >= 2x podman). Everything lives in one temp dir, removed at the end; host stores untouched.
#
# Usage (root): bench/registry.sh     env: BERTH=path/to/berth (default: scripts/build-release.sh)
#   RUNS=5  LAYER_MIB=100  BENCH_DIR=/var/tmp  PODMAN_DRIVER=overlay
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
RUNS=${RUNS:-5}
LAYER_MIB=${LAYER_MIB:-100}
PODMAN_DRIVER=${PODMAN_DRIVER:-overlay}
FIXTURES=$REPO/crates/berth/tests/images/fixtures.py

need() { command -v "$1" >/dev/null || { echo "bench/registry.sh: $1 is not installed" >&2; exit 1; }; }
need podman
need skopeo
need hyperfine
need python3
need docker-registry
[ "$(id -u)" -eq 0 ] || { echo "bench/registry.sh: run as root" >&2; exit 1; }

if [ -z "${BERTH:-}" ]; then
  echo "== building berth (release)" >&2
  BERTH="$("$REPO/scripts/build-release.sh" berth)/berth"
fi
BERTH=$(realpath "$BERTH")

WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/berth-regbench.XXXXXX")
PODMAN=(podman --root "$WORK/podman/storage" --runroot "$WORK/podman/run" --tmpdir "$WORK/podman/tmp"
        --storage-driver "$PODMAN_DRIVER" --cgroup-manager cgroupfs --events-backend file)
P="${PODMAN[*]}"
PIDS=()
WAIT_SYNC="while pgrep -f -- '^$BERTH .*system sync\$' >/dev/null; do sleep 0.05; done"
cleanup() {
  eval "$WAIT_SYNC" || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  "${PODMAN[@]}" rmi -af >/dev/null 2>&1 || true
  awk -v w="$WORK" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_registry() { # name -> prints the port
  local dir=$WORK/$1 port
  port=$(free_port)
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  echo "$port"
}

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

# Not started inside $(...): the registries must be children of this shell for cleanup.
start_registry pullreg >"$WORK/pullport"; PULL_PORT=$(cat "$WORK/pullport")
start_registry pushreg >"$WORK/pushport"; PUSH_PORT=$(cat "$WORK/pushport")
SRC=127.0.0.1:$PULL_PORT/bench/img:1
DST=127.0.0.1:$PUSH_PORT/bench/img:1
echo "== seeding $SRC (gzip) with skopeo" >&2
skopeo copy -q --dest-tls-verify=false "docker-archive:$WORK/fx/image.tar" "docker://$SRC"
rm -f "$WORK/fx/image.tar"
GZ_BYTES=$(du -sb "$WORK/pullreg/data/docker/registry/v2/blobs" | cut -f1)

echo "== pull: berth vs podman vs skopeo ($RUNS runs each)" >&2
hyperfine --style basic --runs "$RUNS" --export-json "$WORK/pull.json" \
  --prepare "$WAIT_SYNC; rm -rf $WORK/berth; sync" -n "berth pull" "$BERTH --root $WORK/berth pull -q $SRC" \
  --prepare "$P rmi -af >/dev/null 2>&1; sync; true" -n "podman pull" "$P pull -q --tls-verify=false $SRC" \
  --prepare "rm -rf $WORK/oci; sync" -n "skopeo copy" "skopeo copy -q --src-tls-verify=false docker://$SRC oci:$WORK/oci:bench"
eval "$WAIT_SYNC"

# Every tool holds the image now: push it to the emptied second registry.
"$BERTH" --root "$WORK/berth" tag "$SRC" "$DST"
"${PODMAN[@]}" tag "$SRC" "$DST"
EMPTY="rm -rf $WORK/pushreg/data/docker; sync"
echo "== push: berth vs podman vs skopeo ($RUNS runs each)" >&2
hyperfine --style basic --runs "$RUNS" --export-json "$WORK/push.json" \
  --prepare "$EMPTY" -n "berth push" "$BERTH --root $WORK/berth push -q $DST" \
  --prepare "$EMPTY" -n "podman push" "$P push -q --tls-verify=false $DST" \
  --prepare "$EMPTY" -n "skopeo copy (push)" "skopeo copy -q --dest-tls-verify=false oci:$WORK/oci:bench docker://$DST"

echo
echo "== results: $LAYER_MIB MiB x3 + busybox image, $GZ_BYTES bytes in the registry (gzip), $RUNS runs, $(nproc) CPUs"
python3 - "$WORK" <<'EOF'
import json, os, sys
work = sys.argv[1]
def rows(name):
    return {r["command"]: r for r in json.load(open(os.path.join(work, name)))["results"]}
pull, push = rows("pull.json"), rows("push.json")
print(f"{'command':<20} {'median s':>9} {'min s':>7} {'max s':>7}")
for r in (pull, push):
    for c, v in r.items():
        print(f"{c:<20} {v['median']:9.3f} {v['min']:7.3f} {v['max']:7.3f}")
def ratio(r, a, b, target, what):
    x = r[a]["median"] / r[b]["median"]
    print(f"  -> {b} is {x:.2f}x {a} ({what})")
ratio(pull, "podman pull", "berth pull", 3, "target: berth >= 3x faster")
x = pull["berth pull"]["median"] / pull["skopeo copy"]["median"]
print(f"  -> berth pull takes {x:.2f}x skopeo copy's time (target: <= 1.5x; skopeo does not unpack)")
ratio(push, "podman push", "berth push", 2, "target: berth >= 2x faster")
ratio(push, "skopeo copy (push)", "berth push", 1, "for reference")
EOF
