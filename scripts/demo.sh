#!/usr/bin/env bash
# Build berth, create Berth's offline images (busybox from Debian's busybox-static, and
# hello-world, whose program Berth writes itself), then run containers from them with `berth run`
# -- no image registry involved.
#
#   scripts/demo.sh                      # hello-world, then a greeting script in busybox
#   scripts/demo.sh /bin/sh -c 'ps; id'  # runs your command in busybox instead
#
# Needs root (namespaces, cgroups, mounts). Installs busybox-static, libseccomp-dev and
# libsqlite3-dev with apt when missing. Images and containers go to the default store
# (/var/lib/berth, or $BERTH_ROOT).
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

BERTH="$(scripts/build-release.sh berth)/berth"

# The images: made offline, stored and unpacked like any pulled image.
"$BERTH" image bootstrap
"$BERTH" images

if (($# == 0)); then
  set -- /bin/sh -c 'echo "Hello from a Berth container"; echo "hostname: $(hostname)"; id;
    echo "pid 1: $(cat /proc/1/comm)"; echo "capabilities: $(grep CapEff /proc/self/status)";
    echo "mounts:"; cut -d" " -f2,3 /proc/mounts | sed "s/^/  /"'
fi

echo "== berth run --rm hello-world"
"$BERTH" run --rm hello-world
echo "== berth run --rm --network none busybox $*"
exec "$BERTH" run --rm --network none busybox "$@"
