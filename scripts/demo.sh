#!/usr/bin/env bash
# Build berth and berth-runc, create Berth's offline images (busybox from Debian's busybox-static,
# and hello-world, whose program Berth writes itself), then run a container from each -- no image
# registry involved.
#
#   scripts/demo.sh                      # hello-world, then a greeting script in busybox
#   scripts/demo.sh /bin/sh -c 'ps; id'  # runs your command in busybox instead
#
# Needs root (namespaces, cgroups, mounts). Installs busybox-static, libseccomp-dev and
# libsqlite3-dev with apt when missing. Images go to the default store (/var/lib/berth, or
# $BERTH_ROOT). BERTH_RUNTIME=/usr/sbin/runc runs the same bundles with runc instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: run as root (containers need namespaces, cgroups and mounts)" >&2
  exit 1
fi

need=()
[ -x /bin/busybox ] || need+=(busybox-static)
pkg-config --exists libseccomp 2>/dev/null || need+=(libseccomp-dev pkg-config)
pkg-config --exists sqlite3 2>/dev/null || need+=(libsqlite3-dev)
if ((${#need[@]})); then
  echo "demo.sh: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo build --release -p berth -p berth-runc --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BERTH="${target_dir:-target}/release/berth"
BERTH_RUNTIME="${BERTH_RUNTIME:-${target_dir:-target}/release/berth-runc}"

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-demo.XXXXXX")
id="berth-demo-$$"
state="$work/state"
cleanup() {
  "$BERTH_RUNTIME" --root "$state" delete -f "$id" >/dev/null 2>&1 || true
  for m in "$work"/*/merged; do umount "$m" 2>/dev/null || true; done
  "$BERTH" image unmount busybox hello-world >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The images: made offline, stored and unpacked like any pulled image.
"$BERTH" image bootstrap
"$BERTH" images
mkdir -p "$work/bundle"

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

# Each container gets a copy-on-write root: its own upper dir over the image's read-only layers.
cow_rootfs() { # image -> prints the writable root
  local lower d
  lower=$("$BERTH" image mount "$1")
  d="$work/$1"
  mkdir -p "$d/upper" "$d/work" "$d/merged"
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$d/upper,workdir=$d/work" "$d/merged"
  echo "$d/merged"
}

std_mounts='    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777", "size=16m"]}'
write_config() { # rootfs args-json mounts-json
cat >"$work/bundle/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": [$2],
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
  "root": {"path": "$1", "readonly": false},
  "hostname": "berth-demo",
  "mounts": [$3],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}], "memory": {"limit": 268435456}, "pids": {"limit": 256}},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON
}

echo "== hello-world"
write_config "$(cow_rootfs hello-world)" '"/hello"' "$std_mounts"
"$BERTH_RUNTIME" --root "$state" run --bundle "$work/bundle" "$id"
echo "== busybox"
"$BERTH_RUNTIME" --root "$state" delete -f "$id" >/dev/null 2>&1 || true
write_config "$(cow_rootfs busybox)" "$args" "$std_mounts"
set +e
"$BERTH_RUNTIME" --root "$state" run --bundle "$work/bundle" "$id"
rc=$?
set -e
exit $rc
