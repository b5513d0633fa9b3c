#!/usr/bin/env bash
# The container start/stop path of the OCI runtime library, measured through berth-runc on a
# prepared busybox bundle (the bundle `berth-runc spec` writes, terminal off, args ["true"]):
#   run                     create + start + wait + delete in one process (what the shim does)
#   create / start / delete the three steps as separate commands
# One hyperfine invocation per scenario, every runtime side by side, medians printed at the end.
#
#   bench/runtime-path.sh [berth-runc ...]     # default: builds berth-runc --release
#   RUNS=100 NICE=-20 bench/runtime-path.sh /tmp/berth-runc.old /tmp/berth-runc.new
# runc (and crun, when it works on this host) join automatically. NICE (default -20) keeps the
# measurement ahead of other load on a shared machine; it does not change what is measured.
# Needs root, hyperfine, busybox-static, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench/runtime-path.sh: run as root" >&2; exit 1; }
RUNS=${RUNS:-60}
WARMUP=${WARMUP:-5}
NICE=${NICE:--20}

binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
  cargo build --release -p berth-runc --quiet
  target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  binaries=("${target_dir:-target}/release/berth-runc")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-path.XXXXXX")
declare -a names=() rts=()
cleanup() {
  for i in "${!rts[@]}"; do
    "${rts[$i]}" --root "$work/state-$i" delete -f "c$i" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

bundle="$work/bundle"
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/true"
(cd "$bundle" && "${binaries[0]}" spec)
python3 - "$bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY

candidates=("${binaries[@]}")
for r in runc crun; do
  p=$(command -v "$r" || true)
  [ -n "$p" ] && candidates+=("$p")
done
for rt in "${candidates[@]}"; do
  i=${#rts[@]}
  if "$rt" --root "$work/state-$i" run --bundle "$bundle" "c$i" >"$work/check-$i.log" 2>&1; then
    rts+=("$rt")
    names+=("$(basename "$rt")#$i")
  else
    echo "skipping $rt: it cannot run the bundle here: $(tail -1 "$work/check-$i.log")" >&2
  fi
done

run_cmds=() create_cmds=() start_cmds=() delete_cmds=()
for i in "${!rts[@]}"; do
  rt=${rts[$i]} st="$work/state-$i" n=${names[$i]}
  run_cmds+=(-n "$n" "$rt --root $st run --bundle $bundle c$i")
  # Each step is timed alone; the other two run in hyperfine's setup/cleanup hooks.
  create_cmds+=(-n "$n" "$rt --root $st create --bundle $bundle c$i")
  start_cmds+=(-n "$n" "$rt --root $st start c$i")
  delete_cmds+=(-n "$n" "$rt --root $st delete c$i")
done
h() { nice -n "$NICE" hyperfine -N --warmup "$WARMUP" --runs "$RUNS" "$@" >/dev/null; }

h --export-json "$work/run.json" "${run_cmds[@]}"
# For the step scenarios, the commands of every runtime share one prepare that
# handles all of them (hyperfine runs them for each command; extra deletes are no-ops).
steps() { # steps delete|create|start: that step for every runtime, as shell text
  for i in "${!rts[@]}"; do
    case $1 in
      delete) printf '%s --root %s delete -f c%s >/dev/null 2>&1; ' "${rts[$i]}" "$work/state-$i" "$i" ;;
      create) printf '%s --root %s create --bundle %s c%s; ' "${rts[$i]}" "$work/state-$i" "$bundle" "$i" ;;
      start) printf '%s --root %s start c%s; ' "${rts[$i]}" "$work/state-$i" "$i" ;;
    esac
  done
}
h --export-json "$work/create.json" --prepare "sh -c '$(steps delete)'" "${create_cmds[@]}"
h --export-json "$work/start.json" --prepare "sh -c '$(steps delete)$(steps create)'" "${start_cmds[@]}"
h --export-json "$work/delete.json" --prepare "sh -c '$(steps delete)$(steps create)$(steps start)sleep 0.05'" "${delete_cmds[@]}"

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
print(f"{'':10}" + "".join(f"{n:>22}" for n in [r['command'] for r in json.load(open(f'{work}/run.json'))['results']]))
for scen in ["run", "create", "start", "delete"]:
    res = json.load(open(f"{work}/{scen}.json"))["results"]
    print(f"{scen:10}" + "".join(f"{r['median']*1000:19.2f} ms" for r in res))
PY
