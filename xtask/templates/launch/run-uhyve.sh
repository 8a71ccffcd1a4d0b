#!/usr/bin/env bash
# run-uhyve.sh: boots this folder's Hermit-WASM image (named below) under uhyve, which
# needs real KVM (a CPU with vmx or svm and a usable /dev/kvm). Written by `cargo xtask
# image`; self-contained: copy the folder to such a machine with uhyve.
#
# usage: run-uhyve.sh [--timeout SECONDS] [--env KEY=VALUE]... [--map HOST[:GUEST][:ro]]...
#                     [--limit NAME=VALUE]... [--] [MODULE ARGUMENTS...]
#
# --limit as in run-qemu.sh, but for `cpu`, which only run-qemu.sh enforces; a memory limit
# does not resize the VM here. There is no run report (--report) under uhyve yet.
#
# Host directories (the image's MAP lines, then --map) are handed to uhyve as file mappings
# under /root/maps (uhyve's file system is mounted at /root in the guest); uhyve has no
# read-only mapping, so read-only maps are enforced by the guest's WASI layer alone.
#
# uhyve boots guest.elf itself (no loader) and forwards the guest's stdout, stderr and exit
# status. Exit status: the module's; 134 if it trapped; 124 when --timeout stopped it;
# 125 when the VM could not run; 128+N when signal N stopped this script, which then ends
# the VM first.
set -uo pipefail

image=@IMAGE@
module=@MODULE@
board=@BOARD@
memory=@MEMORY@
cpus=@CPUS@

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me=$(basename "$0")
timeout=@LIMIT_WALL@
# The image's CPU limit (LIMIT cpu), which only run-qemu.sh can enforce.
limit_cpu=@LIMIT_CPU@
args=()
# Runner options, as the guest's runner reads them before its own `--` (see launch.rs).
runner=(--pwd "$PWD" --exe-name "$0")
# Which of this script's stdin, stdout and stderr are terminals (see run-qemu.sh).
terminals=
for fd in 0 1 2; do
  [ -t "$fd" ] && terminals+=${terminals:+,}$fd
done
[ -z "$terminals" ] || runner+=(--terminals "$terminals")
# Host directories to share with the guest, in the runner's order: the image's, then --map's.
@IMAGE_MAPS@
@MAP_FUNCTIONS@
@LIMIT_FUNCTIONS@
# take_limit SPEC: a --limit for this run (exits 125 if SPEC is malformed or is `cpu`).
take_limit() {
  parse_limit "$1" || exit 125
  case $limit_name in
    wall) timeout=$limit_value ;;
    cpu) echo "$me: --limit cpu: only run-qemu.sh enforces a CPU limit" >&2; exit 125 ;;
    *) runner+=(--limit "$limit_name=$limit_value") ;;
  esac
}
while [ $# -gt 0 ]; do
  case $1 in
    --env|--map)
      [ $# -ge 2 ] || { echo "$me: $1 needs a value" >&2; exit 125; }
      [ "$1" = --env ] || add_map "$2"
      runner+=("$1" "$2"); shift 2 ;;
    --env=*) runner+=(--env "${1#*=}"); shift ;;
    --map=*) add_map "${1#*=}"; runner+=(--map "${1#*=}"); shift ;;
    --timeout)
      [ $# -ge 2 ] || { echo "$me: --timeout needs a number of seconds" >&2; exit 125; }
      timeout=$2; shift 2 ;;
    --timeout=*) timeout=${1#--timeout=}; shift ;;
    --limit)
      [ $# -ge 2 ] || { echo "$me: --limit needs NAME=VALUE" >&2; exit 125; }
      take_limit "$2"; shift 2 ;;
    --limit=*) take_limit "${1#--limit=}"; shift ;;
    --report|--report=*)
      echo "$me: --report: run-uhyve.sh writes no run report yet: use run-qemu.sh" >&2
      exit 125 ;;
    --) shift; args+=("$@"); break ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -n "$limit_cpu" ]; then
  echo "$me: this image limits CPU time (LIMIT cpu), which only run-qemu.sh enforces: boot it with run-qemu.sh" >&2
  exit 125
fi
if [ -n "$timeout" ] && ! [[ $timeout =~ ^[0-9]+$ ]]; then
  echo "$me: --timeout takes whole seconds, not '$timeout'" >&2
  exit 125
fi

if ! command -v uhyve >/dev/null 2>&1; then
  echo "$me: uhyve not found: cargo install uhyve --version 0.10.0 --locked" >&2
  exit 125
fi
if ! grep -qwE 'vmx|svm' /proc/cpuinfo 2>/dev/null || ! { : <>/dev/kvm; } 2>/dev/null; then
  echo "$me: uhyve needs KVM (a CPU with vmx/svm and a usable /dev/kvm); this machine has none: use run-qemu.sh" >&2
  exit 125
fi

uhyve_opts=()
for k in "${!share_dirs[@]}"; do
  if [ ! -d "${share_dirs[$k]}" ]; then
    echo "$me: host directory '${share_dirs[$k]}' does not exist" >&2
    exit 125
  fi
  uhyve_opts+=(--file-mapping "${share_dirs[$k]}:/root/maps/$k")
done
[ ${#uhyve_opts[@]} -eq 0 ] || runner+=(--maps-at /root/maps)

# uhyve's own `--` ends its options; the second one separates kernel from application
# arguments; the third separates the runner's options from the module's arguments.
run=(uhyve -m "$memory" -c "$cpus" ${uhyve_opts[@]+"${uhyve_opts[@]}"} "$here/guest.elf" -- -- "${runner[@]}" -- "${args[@]+"${args[@]}"}")
if [ -n "$timeout" ]; then
  run=(timeout -k 5 "$timeout" "${run[@]}")
fi
uhyve_pid=
# Interrupted or killed: end the VM, and exit as a shell does (128 + the signal's number).
stopped_by() {
  trap - INT TERM HUP
  echo "$me: stopped by signal $1: ending the VM" >&2
  exit $((128 + $1))
}
trap 'stopped_by 2' INT
trap 'stopped_by 15' TERM
trap 'stopped_by 1' HUP
trap '[ -z "$uhyve_pid" ] || { kill -TERM "$uhyve_pid" 2>/dev/null; wait "$uhyve_pid" 2>/dev/null; }' EXIT
# In the background, so that a signal is handled at once; stdin stays the script's.
"${run[@]}" <&0 &
uhyve_pid=$!
wait "$uhyve_pid"
rc=$?
uhyve_pid=
if [ -n "$timeout" ] && [ "$rc" -eq 124 ]; then
  echo "$me: timed out: the guest ran longer than ${timeout}s and was stopped" >&2
fi
exit "$rc"
