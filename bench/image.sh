#!/usr/bin/env bash
# Image load/save benchmark, berth vs podman side by side in one run (issue 3, "Speed").
#
# Builds the issue's test image offline: 4 layers (busybox rootfs; 100 MiB random; 100 MiB random;
# 100 MiB compressible text), ~302 MiB, as a docker-archive written by `podman save`. Then hyperfine
# times `podman load -i A` vs `berth load -i A` (each run on an empty store) and `podman save` vs
# `berth save`, prints medians, MB/s and ratios, and the peak RSS of each (/usr/bin/time -v).
# podman and berth use private roots under one temp dir (the host's stores are untouched), removed
# at the end.
#
# Usage (root): bench/image.sh            env: BERTH=path/to/berth (default: scripts/build-release.sh)
#   RUNS=5  LAYER_MIB=100  PODMAN_DRIVER=overlay  BENCH_DIR=/var/tmp  BENCH_GZIP=1 (also time gzip'd loads; not GZIP, which gzip itself reads)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
RUNS=${RUNS:-5}
LAYER_MIB=${LAYER_MIB:-100}
PODMAN_DRIVER=${PODMAN_DRIVER:-overlay}
FIXTURES=$REPO/crates/berth/tests/images/fixtures.py

need() { command -v "$1" >/dev/null || { echo "bench/image.sh: $1 is not installed" >&2; exit 1; }; }
need podman
need hyperfine
need python3
[ "$(id -u)" -eq 0 ] || { echo "bench/image.sh: run as root" >&2; exit 1; }

if [ -z "${BERTH:-}" ]; then
  echo "== building berth (release)" >&2
  BERTH="$("$REPO/scripts/build-release.sh" berth)/berth"
fi
BERTH=$(realpath "$BERTH")

WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/berth-bench.XXXXXX")
PODMAN=(podman --root "$WORK/podman/storage" --runroot "$WORK/podman/run" --tmpdir "$WORK/podman/tmp"
        --storage-driver "$PODMAN_DRIVER" --cgroup-manager cgroupfs --events-backend file)
P="${PODMAN[*]}"
cleanup() {
  eval "${WAIT_SYNC:-}"
  "${PODMAN[@]}" rmi -af >/dev/null 2>&1 || true
  # Whatever podman's driver left mounted under the work dir, deepest first.
  awk -v w="$WORK" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building the test image in $WORK" >&2
mkdir -p "$WORK/fx"
python3 "$FIXTURES" rootfs-tar "$WORK/fx/busybox.tar"
python3 "$FIXTURES" random-tar "$WORK/fx/random1.tar" "$LAYER_MIB" --name random1
python3 "$FIXTURES" random-tar "$WORK/fx/random2.tar" "$LAYER_MIB" --name random2
python3 "$FIXTURES" text-tar "$WORK/fx/text.tar" "$LAYER_MIB" --name text
python3 "$FIXTURES" archive "$WORK/fx/assembled.tar" --tag localhost/bench:1 \
  --layer "$WORK/fx/busybox.tar" --layer "$WORK/fx/random1.tar" \
  --layer "$WORK/fx/random2.tar" --layer "$WORK/fx/text.tar" >/dev/null
rm -f "$WORK"/fx/{busybox,random1,random2,text}.tar
# The archive under test is podman's own docker-archive of that image.
"${PODMAN[@]}" load -q -i "$WORK/fx/assembled.tar" >/dev/null
A="$WORK/image.tar"
"${PODMAN[@]}" save -q -o "$A" localhost/bench:1
rm -f "$WORK/fx/assembled.tar"
"${PODMAN[@]}" rmi -af >/dev/null
BYTES=$(stat -c %s "$A")
MIB=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')
LAYERS=$(tar -xOf "$A" manifest.json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)[0]["Layers"]))')
echo "== image: $A, $MIB MiB, $LAYERS layers" >&2

# `berth load` returns before its data is durable and leaves a detached `berth system sync`:
# wait for it (untimed) before the next run, or runs overlap and the reset races with it.
# The pattern is anchored at the binary so that it matches neither hyperfine's nor the waiting
# shell's own command line (both contain the store path).
WAIT_SYNC="while pgrep -f -- '^$BERTH .*system sync\$' >/dev/null; do sleep 0.05; done"
# Empty stores before each timed load.
P_RESET="sync; $P rmi -af >/dev/null 2>&1; sync; true"
B_RESET="$WAIT_SYNC; rm -rf $WORK/berth-load; sync"

echo "== load: podman vs berth ($RUNS runs each)" >&2
hyperfine --style basic --runs "$RUNS" --export-json "$WORK/load.json" \
  --prepare "$P_RESET" -n "podman load" "$P load -q -i $A" \
  --prepare "$B_RESET" -n "berth load" "$BERTH --root $WORK/berth-load load -q -i $A" \
  --prepare "$B_RESET" -n "berth load+sync" "$BERTH --root $WORK/berth-load load -q -i $A && $BERTH --root $WORK/berth-load system sync"
eval "$WAIT_SYNC"

if [ "${BENCH_GZIP:-0}" = 1 ]; then
  gzip -1 -c "$A" >"$A.gz"
  echo "== load of the gzip-compressed archive (berth only: podman 4.3 refuses a gzip'd docker-archive)" >&2
  hyperfine --style basic --runs "$RUNS" --export-json "$WORK/loadgz.json" \
    --prepare "$B_RESET" -n "berth load (gz)" "$BERTH --root $WORK/berth-load load -q -i $A.gz"
  eval "$WAIT_SYNC"
fi

# Both stores hold the image for save.
"${PODMAN[@]}" load -q -i "$A" >/dev/null
"$BERTH" --root "$WORK/berth-save" load -q -i "$A" >/dev/null
eval "$WAIT_SYNC"
echo "== save: podman vs berth ($RUNS runs each)" >&2
hyperfine --style basic --runs "$RUNS" --export-json "$WORK/save.json" \
  --prepare "rm -f $WORK/out-podman.tar" -n "podman save" "$P save -q -o $WORK/out-podman.tar localhost/bench:1" \
  --prepare "rm -f $WORK/out-berth.tar" -n "berth save" "$BERTH --root $WORK/berth-save save -o $WORK/out-berth.tar localhost/bench:1"

# Peak RSS, one run each.
rss() { # label, command...
  /usr/bin/time -v -o "$WORK/rss.txt" "${@:2}" >/dev/null 2>&1
  printf '%s=%s\n' "$1" "$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$WORK/rss.txt")"
}
RSS=$(
  "${PODMAN[@]}" rmi -af >/dev/null 2>&1 || true
  rss podman_load "${PODMAN[@]}" load -q -i "$A"
  rm -rf "$WORK/berth-load"
  rss berth_load "$BERTH" --root "$WORK/berth-load" load -q -i "$A"
  eval "$WAIT_SYNC"
  rm -f "$WORK/out-podman.tar" "$WORK/out-berth.tar"
  rss podman_save "${PODMAN[@]}" save -q -o "$WORK/out-podman.tar" localhost/bench:1
  rss berth_save "$BERTH" --root "$WORK/berth-save" save -o "$WORK/out-berth.tar" localhost/bench:1
)

echo
echo "== results: $MIB MiB image ($BYTES bytes), $RUNS runs, podman driver $PODMAN_DRIVER, $(nproc) CPUs"
python3 - "$BYTES" "$WORK" "$RSS" <<'EOF'
import json, os, sys
size, work, rss = int(sys.argv[1]), sys.argv[2], dict(l.split("=") for l in sys.argv[3].split())
def rows(name):
    p = os.path.join(work, name)
    if not os.path.exists(p):
        return {}
    return {r["command"]: r for r in json.load(open(p))["results"]}
print(f"{'command':<18} {'median s':>9} {'min s':>7} {'max s':>7} {'MB/s':>8} {'peak RSS MiB':>13}")
for file, a, b in [("load.json", "podman load", "berth load"), ("loadgz.json", "podman load (gz)", "berth load (gz)"),
                   ("save.json", "podman save", "berth save")]:
    r = rows(file)
    if not r:
        continue
    for c in (a, b):
        if c not in r:
            continue
        m = r[c]["median"]
        key = c.replace(" (gz)", "").replace(" ", "_")
        mem = rss.get(key, "")
        mem = f"{int(mem) / 1024:.0f}" if mem.isdigit() and "(gz)" not in c else ""
        print(f"{c:<18} {m:9.3f} {r[c]['min']:7.3f} {r[c]['max']:7.3f} {size / m / 1e6:8.0f} {mem:>13}")
    if a not in r or b not in r:
        continue
    for bb in [b] + ([b + "+sync"] if b + "+sync" in r else []):
        if bb != b:
            c = bb
            print(f"{c:<18} {r[c]['median']:9.3f} {r[c]['min']:7.3f} {r[c]['max']:7.3f} {size / r[c]['median'] / 1e6:8.0f}")
        ratio = r[a]["median"] / r[bb]["median"]
        print(f"  -> {bb} is {ratio:.2f}x {'faster' if ratio >= 1 else 'SLOWER'} than {a} (target >= 3x)")
EOF
