#!/bin/bash
# Builds Berth's release binaries as shipped, and prints the directory holding them.
#
# Usage: scripts/build-release.sh [package...]   (default: berth berth-init berth-runc)
#
# On a glibc host the binaries are linked statically, at a fixed address: the `berth` binary
# starts at least twice per `berth run` (the CLI and the container's shim), and a dynamic one
# spends part of each start in the loader (mapping libc, libm, libgcc_s, binding symbols) and
# its page faults: ~1 ms per `run` on a 2-core VM (bench/containers.sh). glibc's DNS and files
# lookups are built into its static library, so registry host names resolve as before.
# `cargo build --release` still builds the same programs, dynamically linked, in target/release.
set -euo pipefail
cd "$(dirname "$0")/.."
(($# > 0)) || set -- berth berth-init berth-runc
host=$(rustc -vV | sed -n 's/^host: //p')
flags=()
case "$host" in
  *-linux-gnu*) flags=(-C target-feature=+crt-static -C relocation-model=static) ;;
esac
packages=()
for p in "$@"; do packages+=(-p "$p"); done
# --target: the flags then apply to the binaries only, not to build scripts and proc macros
# (which cannot be linked statically).
RUSTFLAGS="${flags[*]}" cargo build --release --quiet --target "$host" "${packages[@]}"
target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
echo "${target_dir:-$PWD/target}/$host/release"
