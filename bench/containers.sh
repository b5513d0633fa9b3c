#!/usr/bin/env bash
# Container benchmark (issue 4, "Speed and density"), berth side by side with podman (runc) and
# docker when they are installed / a daemon answers.
#
#  1. `run --rm --network none busybox true`: hyperfine medians and ratios.
#  2. N detached `sleep` containers (default N=100; BENCH_N=1000 for the issue's figure): wall time
#     to start them one after another, and host memory per container: the MemAvailable drop per
#     container, and the Pss of the monitors (berth shims / podman conmons) per container.
#  3. `ps -a` over those N containers.
#  4. `ps -a` over created (never started) containers, PS_SIZES of them (default "100 300 1000";
#     PS_SIZES="" skips): the listing's own cost, without N running containers' memory.
#
# Everything runs in private stores under one temp dir (berth --root/--runroot, podman --root
# --runroot), removed at the end; busybox comes from `berth image bootstrap` and is handed to
# podman/docker with `berth save | load`, so all run the same image.
#
# Usage (root): bench/containers.sh     env: BERTH=path/to/berth (default: scripts/build-release.sh)
#   BENCH_N=100  RUNS=30  WARMUP=30  BENCH_DIR=/var/tmp  NO_PODMAN=1  NO_DOCKER=1
#   PS_SIZES="100 300 1000"
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
N=${BENCH_N:-100}
RUNS=${RUNS:-30}

need() { command -v "$1" >/dev/null || { echo "bench/containers.sh: $1 is not installed" >&2; exit 1; }; }
need hyperfine
need python3
[ "$(id -u)" -eq 0 ] || { echo "bench/containers.sh: run as root" >&2; exit 1; }

if [ -z "${BERTH:-}" ]; then
  echo "== building berth (release)" >&2
  BERTH="$("$REPO/scripts/build-release.sh" berth berth-init)/berth"
fi
BERTH=$(realpath "$BERTH")

WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/berth-cbench.XXXXXX")
# The run roots on tmpfs, where both engines keep them by default (/run/berth, /run/containers):
# on a disk each socket, lock and state file of a start costs milliseconds more. Where /run is
# no tmpfs (this VM's is on the root ext4), one is mounted for the bench.
RUNWORK=$(mktemp -d /run/berth-cbench.XXXXXX)
if [ "$(stat -f -c %T "$RUNWORK")" != tmpfs ]; then
  mount -t tmpfs -o mode=0755 berth-cbench "$RUNWORK"
fi
B=("$BERTH" --root "$WORK/berth/root" --runroot "$RUNWORK/berth")
BS="${B[*]}"
HAVE_PODMAN=0
if [ -z "${NO_PODMAN:-}" ] && command -v podman >/dev/null && command -v runc >/dev/null; then
  HAVE_PODMAN=1
fi
PODMAN=(podman --root "$WORK/podman/storage" --runroot "$RUNWORK/podman" --tmpdir "$WORK/podman/tmp"
        --runtime runc --cgroup-manager cgroupfs --events-backend file)
# Podman raises RLIMIT_NOFILE/NPROC to 1048576 unless containers.conf sets default_ulimits; a
# host without CAP_SYS_RESOURCE in the bounding set refuses that and every run fails. Such hosts
# configure the limits (the machines here: nofile=20000, nproc=32768); where the system file does
# not, the bench gives podman a containers.conf of its own with those values.
if [ "$HAVE_PODMAN" = 1 ] && [ -z "${CONTAINERS_CONF:-}" ] &&
  ! grep -qs '^[[:space:]]*default_ulimits' /etc/containers/containers.conf; then
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' \
    >"$WORK/containers.conf"
  export CONTAINERS_CONF="$WORK/containers.conf"
fi
PS="${PODMAN[*]}"
HAVE_DOCKER=0
if [ -z "${NO_DOCKER:-}" ] && command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1; then
  HAVE_DOCKER=1
fi
DOCKER_LABEL="berth-bench-$$"

cleanup() {
  set +e
  ids=$("${B[@]}" ps -aq --no-trunc 2>/dev/null)
  [ -n "$ids" ] && "${B[@]}" rm -f $ids >/dev/null 2>&1
  if [ "$HAVE_PODMAN" = 1 ]; then "${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1; "${PODMAN[@]}" rmi -af >/dev/null 2>&1; fi
  if [ "$HAVE_DOCKER" = 1 ]; then
    ids=$(docker ps -aq --filter "label=$DOCKER_LABEL"); [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
  fi
  for w in "$WORK" "$RUNWORK"; do
    awk -v w="$w" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo |
      sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  done
  rm -rf "$WORK" "$RUNWORK"
}
trap cleanup EXIT

echo "== busybox for all engines" >&2
"${B[@]}" image bootstrap busybox >/dev/null
if [ "$HAVE_PODMAN" = 1 ] || [ "$HAVE_DOCKER" = 1 ]; then
  "${B[@]}" save -o "$WORK/busybox.tar" busybox:latest
  [ "$HAVE_PODMAN" = 1 ] && "${PODMAN[@]}" load -q -i "$WORK/busybox.tar" >/dev/null
  [ "$HAVE_DOCKER" = 1 ] && docker load -q -i "$WORK/busybox.tar" >/dev/null
fi

# -- 1. run --rm true ------------------------------------------------------------------------
echo "== run --rm --network none busybox true ($RUNS runs)" >&2
CMDS=(-n "berth" "$BS run --rm --network none busybox true")
[ "$HAVE_PODMAN" = 1 ] && CMDS+=(-n "podman (runc)" "$PS run --rm --network none busybox true")
[ "$HAVE_DOCKER" = 1 ] && CMDS+=(-n "docker" "docker run --rm --network none busybox true")
# -N: no shell in between (hyperfine's correction for the shell's start-up is coarse next to
# a 20 ms command).
# WARMUP (default 30) runs first: the fresh store's filesystem metadata is cold (on this VM
# the first few dozen runs' file creations cost ~10 ms more), which is not what a store in use
# sees.
hyperfine -N --style basic --warmup "${WARMUP:-30}" --runs "$RUNS" --export-json "$WORK/run.json" "${CMDS[@]}" >&2

# -- 2. N detached containers ------------------------------------------------------------------
mem_avail() { awk '/^MemAvailable:/ { printf "%.0f\n", $2 * 1024 }' /proc/meminfo; }
# Sum of Pss (bytes) of processes whose command line matches $1 (a grep -E pattern).
pss_of() {
  local total=0 pid
  for pid in $(pgrep -f -- "$1" || true); do
    local kb
    kb=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0} * 1024))
  done
  echo "$total"
}
detached() { # label, run-command-prefix, monitor-pattern
  local label=$1 cmd=$2 pattern=$3
  sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; sleep 1
  local before start end after
  before=$(mem_avail)
  start=$(date +%s.%N)
  for i in $(seq "$N"); do
    $cmd busybox sleep 1000000 >/dev/null
  done
  end=$(date +%s.%N)
  sleep 2
  after=$(mem_avail)
  local pss
  pss=$(pss_of "$pattern")
  echo "$label $start $end $before $after $pss" >>"$WORK/detached.txt"
}
: >"$WORK/detached.txt"
echo "== $N detached sleep containers: berth" >&2
detached berth "$BS run -d --network none" "^$BERTH shim "
echo "== ps -a over $N containers" >&2
PSCMDS=(-n "berth ps" "$BS ps -a")
if [ "$HAVE_PODMAN" = 1 ]; then
  echo "== $N detached sleep containers: podman (runc)" >&2
  detached "podman" "$PS run -d --network none" "^/usr/bin/conmon .*$WORK/podman"
  PSCMDS+=(-n "podman ps" "$PS ps -a")
fi
if [ "$HAVE_DOCKER" = 1 ]; then
  echo "== $N detached sleep containers: docker" >&2
  detached "docker" "docker run -d --label $DOCKER_LABEL --network none" "containerd-shim"
  PSCMDS+=(-n "docker ps" "docker ps -a")
fi
hyperfine -N --style basic --warmup 2 --runs 10 --export-json "$WORK/ps.json" "${PSCMDS[@]}" >&2

# -- 4. ps -a over created containers ----------------------------------------------------------
# Private stores (the image only), grown to each size in turn with `create`.
BC=("$BERTH" --root "$WORK/psc/berth" --runroot "$RUNWORK/psc-berth")
PC=(podman --root "$WORK/psc/podman" --runroot "$RUNWORK/psc-podman" --tmpdir "$WORK/psc/podman-tmp"
    --runtime runc --cgroup-manager cgroupfs --events-backend file)
if [ -n "${PS_SIZES-100 300 1000}" ]; then
  "${BC[@]}" image bootstrap busybox >/dev/null
  [ "$HAVE_PODMAN" = 1 ] && "${PC[@]}" load -q -i "$WORK/busybox.tar" >/dev/null
  have=0
  PSC_PODMAN=$HAVE_PODMAN
  for size in ${PS_SIZES-100 300 1000}; do
    echo "== ps -a over $size created containers" >&2
    while [ "$have" -lt "$size" ]; do
      "${BC[@]}" create --network none busybox true >/dev/null
      if [ "$PSC_PODMAN" = 1 ] && ! "${PC[@]}" create --network none busybox true >/dev/null; then
        # e.g. podman's machine-wide lock table (num_locks) is full: go on without it.
        echo "podman create failed at $have containers: ps -a without podman from here" >&2
        PSC_PODMAN=0
      fi
      have=$((have + 1))
    done
    C=(-n "berth ps" "${BC[*]} ps -a")
    [ "$PSC_PODMAN" = 1 ] && C+=(-n "podman ps" "${PC[*]} ps -a")
    hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$WORK/psc-$size.json" "${C[@]}" >&2
  done
fi
cleanup_psc() {
  local ids
  ids=$("${BC[@]}" ps -aq --no-trunc 2>/dev/null || true)
  if [ -n "$ids" ]; then "${BC[@]}" rm -f $ids >/dev/null 2>&1 || true; fi
  if [ "$HAVE_PODMAN" = 1 ]; then "${PC[@]}" rm -af >/dev/null 2>&1 || true; fi
}
cleanup_psc

echo
echo "== results ($(nproc) CPUs, N=$N, $RUNS runs)"
python3 - "$WORK" "$N" <<'PY'
import json, os, sys
work, n = sys.argv[1], int(sys.argv[2])
def results(name):
    p = os.path.join(work, name)
    return {r["command"]: r for r in json.load(open(p))["results"]} if os.path.exists(p) else {}
run = results("run.json")
print("run --rm --network none busybox true (median, min, max ms):")
for k, r in run.items():
    print(f"  {k:<16} {r['median']*1000:8.1f} {r['min']*1000:8.1f} {r['max']*1000:8.1f}")
b = run.get("berth")
for other in ("podman (runc)", "docker"):
    if b and other in run:
        print(f"  -> berth is {run[other]['median']/b['median']:.1f}x faster than {other}")
if b:
    print(f"  target: <= 10 ms median: {'MET' if b['median'] <= 0.010 else 'NOT MET'} ({b['median']*1000:.1f} ms)")
print(f"{n} detached sleep containers:")
rows = {}
for line in open(os.path.join(work, "detached.txt")):
    label, start, end, before, after, pss = line.split()
    secs = float(end) - float(start)
    drop = (int(before) - int(after)) / n
    rows[label] = (secs, drop, int(pss) / n)
    print(f"  {label:<8} start {secs:7.1f} s ({secs/n*1000:6.1f} ms each)  MemAvailable drop {drop/1e6:6.2f} MB/ctr"
          f"  monitor Pss {int(pss)/n/1e6:6.2f} MB/ctr")
if "berth" in rows:
    s, d, p = rows["berth"]
    for other, (os_, od, op) in rows.items():
        if other != "berth":
            print(f"  -> vs {other}: start {os_/s:.1f}x faster, memory {od/max(d,1):.1f}x less (MemAvailable), "
                  f"monitor {op/max(p,1):.1f}x less")
    est = s / n * 1000
    print(f"  target: 1000 started in < 30 s (extrapolated {est:.1f} s): {'MET' if est < 30 else 'NOT MET'};"
          f" <= 0.5 MB/ctr beyond the container's process (shim Pss {p/1e6:.2f} MB): {'MET' if p <= 0.5e6 else 'NOT MET'}")
ps = results("ps.json")
print(f"ps -a over {n} containers (median ms):")
for k, r in ps.items():
    print(f"  {k:<12} {r['median']*1000:8.1f}")
if "berth ps" in ps:
    for other in ("podman ps", "docker ps"):
        if other in ps:
            print(f"  -> berth ps is {ps[other]['median']/ps['berth ps']['median']:.1f}x faster than {other}")
    print(f"  target: < 50 ms over 1000: {'MET' if ps['berth ps']['median'] < 0.05 else 'NOT MET'} (N={n})")
sizes = sorted(int(f[4:-5]) for f in os.listdir(work) if f.startswith("psc-") and f.endswith(".json"))
if sizes:
    print("ps -a over created containers (median ms):")
for size in sizes:
    r = results(f"psc-{size}.json")
    line = "  ".join(f"{k} {v['median']*1000:7.1f}" for k, v in r.items())
    ratio = ""
    if "berth ps" in r and "podman ps" in r:
        ratio = f"  -> {r['podman ps']['median']/r['berth ps']['median']:.1f}x faster than podman"
    print(f"  {size:>5}: {line}{ratio}")
    if size == 1000 and "berth ps" in r:
        print(f"  target: < 50 ms over 1000: {'MET' if r['berth ps']['median'] < 0.05 else 'NOT MET'}")
PY
