#!/usr/bin/env bash
# Build berth-runc and run one container from a busybox rootfs -- no image registry involved.
#
#   scripts/demo.sh                      # runs a greeting script in the container
#   scripts/demo.sh /bin/sh -c 'ps; id'  # runs your command instead
#
# Needs root (namespaces, cgroups, mounts). Installs busybox-static and libseccomp-dev with apt when
# missing. BERTH_RUNTIME=/usr/sbin/runc runs the same bundle with runc instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: run as root (containers need namespaces, cgroups and mounts)" >&2
  exit 1
fi

need=()
[ -x /bin/busybox ] || need+=(busybox-static)
pkg-config --exists libseccomp 2>/dev/null || need+=(libseccomp-dev pkg-config)
if ((${#need[@]})); then
  echo "demo.sh: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -z "${BERTH_RUNTIME:-}" ]; then
  cargo build --release -p berth-runc --quiet
  target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  BERTH_RUNTIME="${target_dir:-target}/release/berth-runc"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-demo.XXXXXX")
id="berth-demo-$$"
state="$work/state"
cleanup() {
  "$BERTH_RUNTIME" --root "$state" delete -f "$id" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# rootfs: static busybox and its applets.
rootfs="$work/bundle/rootfs"
mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,etc,root}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
echo "root:x:0:" >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"

# process.args as a JSON list.
if (($# == 0)); then
  set -- /bin/sh -c 'echo "Hello from a Berth container"; echo "hostname: $(hostname)"; id;
    echo "pid 1: $(cat /proc/1/comm)"; echo "mounts:"; cut -d" " -f2,3 /proc/mounts | sed "s/^/  /"'
fi
args=""
for a in "$@"; do
  a=${a//\\/\\\\}
  a=${a//\"/\\\"}
  a=${a//$'\n'/\\n}
  args+="${args:+, }\"$a\""
done

cat >"$work/bundle/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": [$args],
    "env": ["PATH=/bin", "HOME=/root", "TERM=xterm"],
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
  "hostname": "berth-demo",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777", "size=16m"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}], "memory": {"limit": 268435456}, "pids": {"limit": 256}},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON

set +e
"$BERTH_RUNTIME" --root "$state" run --bundle "$work/bundle" "$id"
rc=$?
set -e
exit $rc
