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

image='app'
module='app.wasm'
board='x86_64-kvm'
memory='512M'
cpus='1'

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me=$(basename "$0")
timeout=''
# The image's CPU limit (LIMIT cpu), which only run-qemu.sh can enforce.
limit_cpu=''
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
share_dirs=()
share_ro=()
# Host directories: the grammar HOST[:GUEST][:ro|:rw] of hermit_wasm_kernel::map_spec, whose
# parser the runner uses too (the xtask's tests hold this function to the same table).
# parse_map SPEC: sets map_host, map_guest (empty when not given) and map_ro (0 or 1), or
# says why SPEC is refused and returns 1.
parse_map() {
  local spec=$1 mode
  map_ro=0 map_guest=
  if [[ $spec == *:* ]]; then
    mode=${spec##*:}
    case ${mode,,} in
      ro) map_ro=1; spec=${spec%:*} ;;
      rw) spec=${spec%:*} ;;
    esac
  fi
  map_host=${spec%%:*}
  [[ $spec == *:* ]] && map_guest=${spec#*:}
  if [ -z "$map_host" ]; then
    echo "$me: --map '$1': no host directory (write HOST, HOST:GUEST or HOST:GUEST:ro)" >&2
    return 1
  fi
  if [[ $spec == *:* ]] && [ -z "$map_guest" ]; then
    echo "$me: --map '$1': empty guest name (write HOST, HOST:GUEST or HOST:GUEST:ro)" >&2
    return 1
  fi
  if [[ $map_guest == *:* ]]; then
    echo "$me: --map '$1': too many ':' (write HOST, HOST:GUEST or HOST:GUEST:ro; paths can't hold ':')" >&2
    return 1
  fi
}

# add_map SPEC: adds a --map to the shares (its host directory made absolute); the runner
# reads SPEC itself for the guest name and mode.
add_map() {
  parse_map "$1" || exit 125
  local host
  if ! host=$(CDPATH= cd -- "$map_host" 2>/dev/null && pwd -P); then
    echo "$me: --map '$1': no such host directory '$map_host'" >&2
    exit 125
  fi
  share_dirs+=("$host")
  share_ro+=("$map_ro")
}
# Limits: the grammar NAME=VALUE of hermit_wasm_kernel::limit_spec, whose parser the runner
# uses too (the xtask's tests hold this function to the same table).
limit_syntax="write memory=SIZE, output=SIZE, cpu=DURATION, wall=DURATION, files=COUNT or threads=COUNT; a SIZE like 256M (K, M, G), a DURATION like 30s, 2m or 1h"
# parse_limit SPEC: sets limit_name and limit_value (bytes, seconds or a count), or
# says why SPEC is refused and returns 1.
parse_limit() {
  local spec=$1 kind value number unit scale least=1
  limit_name= limit_value=
  if [[ $spec != *=* ]]; then
    echo "$me: --limit '$1': not NAME=VALUE ($limit_syntax)" >&2
    return 1
  fi
  limit_name=${spec%%=*}
  value=${spec#*=}
  case $limit_name in
    memory) kind=size least=65536 ;;
    output) kind=size ;;
    cpu|wall) kind=duration ;;
    files|threads) kind=count ;;
    *)
      echo "$me: --limit '$1': unknown limit '$limit_name' ($limit_syntax)" >&2
      return 1 ;;
  esac
  if ! [[ $value =~ ^([0-9]{1,12})([A-Za-z]*)$ ]]; then
    echo "$me: --limit '$1': '$value' is not a whole number (at most 12 digits) with a unit ($limit_syntax)" >&2
    return 1
  fi
  number=$((10#${BASH_REMATCH[1]}))
  unit=${BASH_REMATCH[2],,}
  case $kind:$unit in
    size: | duration: | duration:s | count:) scale=1 ;;
    size:k) scale=1024 ;;
    size:m) scale=1048576 ;;
    size:g) scale=1073741824 ;;
    duration:m) scale=60 ;;
    duration:h) scale=3600 ;;
    *)
      echo "$me: --limit '$1': unknown unit '${BASH_REMATCH[2]}' ($limit_syntax)" >&2
      return 1 ;;
  esac
  if [ "$number" -gt $((999999999999 / scale)) ]; then
    echo "$me: --limit '$1': above the greatest limit, 999999999999" >&2
    return 1
  fi
  limit_value=$((number * scale))
  if [ "$limit_value" -lt "$least" ]; then
    echo "$me: --limit '$1': below the least limit, $least" >&2
    return 1
  fi
}

# vm_memory BYTES: the VM's RAM, in MiB, for a module whose memory may grow to BYTES.
# A plain module's memory lives on the kernel's heap (three quarters of RAM) and growing it
# copies it, so the guest holds the old and the new at once, each at most the next power of
# two: twice that. A threads module's shared memory (shared_memory=1; BYTES is then the
# image's capacity) never moves and takes its pages from the quarter of RAM the kernel
# leaves outside its heap, where the threads' stacks come from too: four times it and the
# stacks' room (threads_stacks_mib: 64 threads of 2 MiB, and 32 MiB more). Plus what the
# kernel, runner and precompiled module take (memory_overhead, MiB), and never below what
# the board needs to boot (min_memory, MiB).
threads_stacks_mib=160
vm_memory() {
  local mib=$((($1 + 1048575) / 1048576)) block=1 ram
  # A wasm32 memory holds at most 4 GiB, whatever the limit.
  [ "$mib" -le 4096 ] || mib=4096
  while [ "$block" -lt "$mib" ]; do block=$((block * 2)); done
  ram=$((2 * block + memory_overhead))
  [ "$shared_memory" != 1 ] || ram=$((4 * (mib + threads_stacks_mib) + memory_overhead))
  [ "$ram" -ge "$min_memory" ] || ram=$min_memory
  echo "$ram"
}
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
