#!/usr/bin/env bash
# Side-by-side runtime benchmark on one busybox bundle, with hyperfine:
#   1. `run` of /bin/true
#   2. create + start + delete of /bin/true
# for berth-runc, runc and (when installed and working on this host) crun. Prints the medians and
# the berth/runc ratios.
#
#   bench/runtime.sh                 # builds berth-runc --release first
#   BERTH_RUNC=path RUNS=50 bench/runtime.sh
# Needs root, hyperfine, busybox-static, python3 (for the summary).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bench/runtime.sh: run as root" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench/runtime.sh: apt-get install hyperfine" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "bench/runtime.sh: apt-get install busybox-static" >&2; exit 1; }

RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
if [ -z "${BERTH_RUNC:-}" ]; then
  cargo build --release -p berth-runc --quiet
  target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  BERTH_RUNC="${target_dir:-target}/release/berth-runc"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")
runtimes=()
cleanup() {
  for rt in "${runtimes[@]}"; do
    name=$(basename "$rt")
    "$rt" --root "$work/state-$name" delete -f "bench-$name" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

bundle="$work/bundle"
mkdir -p "$bundle/rootfs"/{bin,proc,sys,dev,tmp,etc}
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for a in sh true; do ln -s busybox "$bundle/rootfs/bin/$a"; done
cat >"$bundle/config.json" <<'JSON'
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["/bin/true"],
    "env": ["PATH=/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "bench",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON

# Which runtimes take part: each must run the bundle once successfully.
candidates=("$BERTH_RUNC")
for r in runc crun; do
  p=$(command -v "$r" || true)
  [ -n "$p" ] && candidates+=("$p")
done
for rt in "${candidates[@]}"; do
  name=$(basename "$rt")
  if "$rt" --root "$work/state-$name" run --bundle "$bundle" "bench-$name" >"$work/check-$name.log" 2>&1; then
    runtimes+=("$rt")
  else
    echo "skipping $name: it cannot run the bundle on this host:" >&2
    sed 's/^/  /' "$work/check-$name.log" | tail -3 >&2
  fi
done
((${#runtimes[@]})) || { echo "no runtime could run the bundle" >&2; exit 1; }

run_cmds=()
cycle_cmds=()
names=()
for rt in "${runtimes[@]}"; do
  name=$(basename "$rt")
  names+=("$name")
  st="$work/state-$name"
  run_cmds+=(-n "$name run" "$rt --root $st run --bundle $bundle bench-$name")
  cycle_cmds+=(-n "$name create+start+delete"
    "sh -c '$rt --root $st create --bundle $bundle bench-$name && $rt --root $st start bench-$name && $rt --root $st delete -f bench-$name'")
done

echo "== run /bin/true"
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/run.json" "${run_cmds[@]}"
echo "== create + start + delete"
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/cycle.json" "${cycle_cmds[@]}"

python3 - "$work/run.json" "$work/cycle.json" <<'PY'
import json, sys
print("\n== summary (medians)")
for path, label in zip(sys.argv[1:], ["run /bin/true", "create+start+delete"]):
    res = {r["command"].split(" ")[0]: r["median"] * 1000 for r in json.load(open(path))["results"]}
    line = f"{label:22}" + "  ".join(f"{k} {v:7.2f} ms" for k, v in res.items())
    berth = next((v for k, v in res.items() if k.startswith("berth")), None)
    if berth is not None and "runc" in res:
        line += f"   berth/runc = {berth / res['runc']:.2f}"
    if berth is not None and "crun" in res:
        line += f"   berth/crun = {berth / res['crun']:.2f}"
    print(line)
PY
