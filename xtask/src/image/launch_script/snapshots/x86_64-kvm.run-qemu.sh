#!/usr/bin/env bash
# run-qemu.sh: boots this folder's Hermit-WASM image (named below) under QEMU. Written by
# `cargo xtask image`; self-contained: copy the folder to any machine with QEMU and run it
# there.
#
# usage: run-qemu.sh [--timeout SECONDS] [--kernel-log] [--cpus N] [--env KEY=VALUE]...
#                    [--map HOST[:GUEST][:ro]]... [--limit NAME=VALUE]... [--report FILE]
#                    [--phases] [--] [MODULE ARGUMENTS...]
#
# --limit replaces the image's LIMIT of one kind for this run: memory=SIZE (each linear
# memory of the module; the VM's RAM follows), output=SIZE (stdout and stderr together),
# files=COUNT (open descriptors), threads=COUNT (threads of a threads module besides its
# main one), cpu=DURATION (the VM's CPU time, as this host counts QEMU's),
# wall=DURATION (the same as --timeout). --report FILE writes the run report, one
# JSON object: status, how the run ended, wall and CPU time, the module's peak memory and
# output, the module's sha256. --phases prints to stderr, after the run, when the loader
# started and handed over to the kernel and the runner's steps, on the guest's monotonic
# clock, which starts with the machine (`phase NAME MICROSECONDS` lines, for `cargo xtask
# bench`).
#
# --cpus N gives the VM N CPUs (the board's default otherwise, at most its maximum): the
# threads of a wasm32-wasip1-threads module then run on several of them.
#
# Host directories (the image's MAP lines, then --map) reach the guest through virtio-fs:
# the script starts virtiofsd (from PATH, or $HERMIT_WASM_VIRTIOFSD) on a staging folder
# that holds each directory as a bind mount, read-only ones mounted read-only, in a mount
# namespace of its own (unshare; as root, or as a user where user namespaces are allowed).
# GUEST is the name the module sees, verbatim (`data`, `/data`, `.`); without it, HOST as
# written.
#
# The module's stdout is this script's stdout, byte for byte. Its stderr goes to stderr,
# and so does the kernel's log with --kernel-log (or HERMIT_WASM_KERNEL_LOG=1) or when the
# guest fails. Exit status: the module's; 134 if it trapped; 124 when --timeout or the wall
# limit stopped it; 152 when it used up its CPU limit, 153 when it passed its output limit
# (what a shell reports for SIGXCPU and SIGXFSZ); 125 when the VM could not run or ended
# without a status; 128+N when signal N (Ctrl-C, kill) stopped this script, which then ends
# the VM and virtiofsd first.
#
# HERMIT_WASM_LAUNCHER, when set, is the program the user ran instead of this script (a
# bundle sets it): messages and the module's executable name use it.
# HERMIT_WASM_QEMU_OPTIONS, when set, is added to QEMU's options, split at blanks (one line;
# no quoting): for experiments (`cargo xtask bench` snapshots a VM through it), not
# checked by this script.
set -uo pipefail

image='app'
module='app.wasm'
board='x86_64-kvm'
qemu='qemu-system-x86_64'
package='qemu-system-x86'
machine='microvm,pit=off,pic=off,rtc=on,ioapic2=off,auto-kernel-cmdline=off'
cpu='qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+fsgsbase,+xsave,+xsaveopt,+rdtscp,+rdrand'
memory='512M'
# What holds the guest's RAM on the host: anonymous (QEMU's default) or memfd (see below).
ram_backing='anonymous'
# MiB the guest needs besides the module's memory, and the least RAM it boots with (for a
# memory limit; see vm_memory).
memory_overhead='38'
min_memory='38'
shared_memory='0'
shared_memory_capacity=''
module_sha256='ab12'
# The image's limits the launcher enforces or sizes the VM by (empty: none), from its LIMIT
# lines; the runner reads the others (output, files, threads) from the image itself.
limit_memory=''
limit_cpu=''
limit_wall=''
smp='1'
max_cpus='4'
drop_privileges='1'
virtio_mmio_slots='0xfeb00000,0x200,8'

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
launcher=${HERMIT_WASM_LAUNCHER:-$0}
me=$(basename "$launcher")
timeout=$limit_wall
report=
phases=
show_log=${HERMIT_WASM_KERNEL_LOG:-}
args=()
# Runner options, as the guest's runner reads them before its own `--` (see launch.rs).
runner=(--pwd "$PWD" --exe-name "$launcher")
# Which of this script's stdin, stdout and stderr are terminals: the module sees each as
# `wasmtime run` shows the same host stream (a character device only when it is a terminal).
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
# The run report (--report FILE): one JSON object with the status, how the run ended, the
# wall and CPU time of the VM, and the module's sha256, completed by the guest's record of
# its run (the serial log's `hermit-wasm: run {...}` line: how it ended, its message, the
# module's peak memory and output) or, when the guest wrote none, by what this script saw.

# refusal_in LOG: the reason the loader gave for not booting this machine (its console line
# `hermit-wasm: cannot boot: REASON`, e.g. a CPU kernel 0.11 cannot run on), if it gave one.
refusal_in() {
  tr -d '\r' < "$1" | sed -n 's/^hermit-wasm: cannot boot: //p' | head -n 1
}

# now_ms: milliseconds since the epoch.
now_ms() {
  if [ -n "${EPOCHREALTIME:-}" ]; then
    local t=${EPOCHREALTIME/[.,]/}
    echo $((10#$t / 1000))
  else
    echo $(($(date +%s%N) / 1000000))
  fi
}

# children_cpu_ms: sets children_cpu to the CPU time (user + system, ms) of the children
# this script has waited for, or to nothing if `times` cannot be read. (`times` reports
# this shell's children only outside a subshell, hence a variable and a file.)
children_cpu_ms() {
  local line part ms=0 m s frac
  children_cpu=
  times >"$log.times" 2>/dev/null || return 0
  { read -r line && read -r line; } <"$log.times" || return 0
  for part in $line; do
    [[ $part =~ ^([0-9]+)m([0-9]+)[.,]([0-9]{3})s$ ]] || return 0
    m=${BASH_REMATCH[1]} s=${BASH_REMATCH[2]} frac=${BASH_REMATCH[3]}
    ms=$((ms + (10#$m * 60 + 10#$s) * 1000 + 10#$frac))
  done
  children_cpu=$ms
}

# The guest's record, when the serial log holds a well-formed one: its fields in the order
# the runner writes them (a line cut short or mixed with another is not taken).
guest_record() {
  local line
  [ -n "$log" ] && [ -r "$log" ] || return 0
  line=$(sed -n 's/^hermit-wasm: run //p' "$log" | tail -n 1)
  # (Some consoles end their lines with CR LF.)
  line=${line%$'\r'}
  local shape='^\{"ended":"(exit|trap|limit|failure)","limit":(null|"[a-z]+"),"message":(null|".*"),"peak_memory_bytes":[0-9]+,"stdout_bytes":[0-9]+,"stderr_bytes":[0-9]+,"limits_reached":\[("[a-z]+"(,"[a-z]+")*)?\]\}$'
  if [[ $line =~ $shape ]]; then
    printf '%s' "$line"
  fi
}

# write_report STATUS ENDED LIMIT MESSAGE: writes the report, if asked for and not written
# yet. ENDED, LIMIT and MESSAGE (our own words, no quotes) stand only when the guest left
# no record. Written beside the file, then renamed: a reader never sees half a report.
write_report() {
  [ -n "$report" ] && [ -z "$report_written" ] || return 0
  report_written=1
  local status=$1 ended=$2 limit=$3 message=$4 record wall cpu
  if [ -n "$started_ms" ]; then
    wall=${wall_ms:-$(($(now_ms) - started_ms))}
  else
    wall=0
  fi
  cpu=${cpu_ms:-null}
  record=$(guest_record)
  if [ -z "$record" ]; then
    [ -n "$limit" ] && limit="\"$limit\"" || limit=null
    [ -n "$message" ] && message="\"$message\"" || message=null
    record="{\"ended\":\"$ended\",\"limit\":$limit,\"message\":$message,\"peak_memory_bytes\":null,\"stdout_bytes\":null,\"stderr_bytes\":null,\"limits_reached\":[${limit#null}]}"
  fi
  if ! printf '{"status":%d,"wall_ms":%d,"cpu_ms":%s,"module_sha256":"%s",%s\n' \
    "$status" "$wall" "$cpu" "$module_sha256" "${record#\{}" >"$report.partial" ||
    ! mv -f -- "$report.partial" "$report"; then
    rm -f -- "$report.partial"
    echo "$me: could not write the report to '$report'" >&2
  fi
}

# The report of a launch that ends before the run does (a missing QEMU, a signal while
# starting): called on exit, it writes one only if none was.
report_on_exit() {
  write_report "$1" failure "" "the launch ended before the VM ran (exit status $1)"
}

# The report's inputs, set as the launch goes (the serial log, when QEMU started, what the
# run took), and a report even for a launch that ends early (the script's cleanup, once
# set, calls report_on_exit first).
report_written=
log=
started_ms=
wall_ms=
cpu_ms=
trap 'report_on_exit $?' EXIT
# take_limit SPEC: a --limit for this run (exits 125 if SPEC is malformed).
take_limit() {
  parse_limit "$1" || exit 125
  case $limit_name in
    memory) limit_memory=$limit_value ;;
    cpu) limit_cpu=$limit_value ;;
    wall) timeout=$limit_value ;;
  esac
  # The runner enforces memory, output, files and threads itself.
  case $limit_name in
    memory|output|files|threads) runner+=(--limit "$limit_name=$limit_value") ;;
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
    --report)
      [ $# -ge 2 ] || { echo "$me: --report needs a file" >&2; exit 125; }
      report=$2; shift 2 ;;
    --report=*) report=${1#--report=}; shift ;;
    --kernel-log) show_log=1; shift ;;
    --phases) phases=1; shift ;;
    --cpus)
      [ $# -ge 2 ] || { echo "$me: --cpus needs a number" >&2; exit 125; }
      smp=$2; shift 2 ;;
    --cpus=*) smp=${1#--cpus=}; shift ;;
    --) shift; args+=("$@"); break ;;
    *) args+=("$1"); shift ;;
  esac
done
# At most 3 digits before comparing: a longer number would overflow bash's arithmetic.
if ! [[ $smp =~ ^[1-9][0-9]{0,2}$ ]] || [ "$smp" -gt "$max_cpus" ]; then
  echo "$me: --cpus takes a number from 1 to $max_cpus on $board, not '$smp'" >&2
  exit 125
fi
if [ -n "$timeout" ] && ! [[ $timeout =~ ^[1-9][0-9]{0,11}$ ]]; then
  echo "$me: --timeout takes whole seconds, at least 1, not '$timeout'" >&2
  exit 125
fi
# The report is written where the caller asked, relative to the current directory; what
# was there (an earlier run's) goes now.
if [ -n "$report" ] && ! : 2>/dev/null >"$report"; then
  echo "$me: --report: cannot write '$report'" >&2
  report=
  exit 125
fi
if [ "$shared_memory" = 1 ]; then
  # A threads module: RAM for its shared memory's capacity, whose addresses the guest
  # reserves whole (a memory limit lowers how far the guest lets it grow, not the VM).
  memory="$(vm_memory "$shared_memory_capacity")M"
elif [ -n "$limit_memory" ]; then
  memory="$(vm_memory "$limit_memory")M"
fi

if ! command -v "$qemu" >/dev/null 2>&1; then
  echo "$me: $qemu not found: apt-get install $package" >&2
  exit 125
fi
accel=tcg
# KVM where the CPU has vmx/svm and /dev/kvm opens; else QEMU's emulator, said on a
# terminal only: in a pipeline stderr is the module's alone, as under `wasmtime run`.
if grep -qwE 'vmx|svm' /proc/cpuinfo 2>/dev/null && { : <>/dev/kvm; } 2>/dev/null; then
  accel=kvm
  cpu='host,-arch-capabilities'
elif [ -t 2 ]; then
  echo "$me: no hardware virtualisation (vmx/svm and a usable /dev/kvm): using QEMU's emulator (TCG)" >&2
fi
# The emulator gives each guest CPU a host thread (multi-threaded TCG), which is what makes
# two guest CPUs faster than one; but with more guest CPUs than this host has cores, a guest
# CPU spinning on one of the kernel's locks takes the host time its holder needs, and a run
# crawls (threads-queue: 79 s on 4 guest CPUs and 2 host cores, against 0.8 s with one
# thread for all). So then one host thread runs all guest CPUs in turn.
if [ "$accel" = tcg ] && [ "$smp" -gt "$(nproc 2>/dev/null || echo 1)" ]; then
  accel=tcg,thread=single
fi
# QEMU's seccomp sandbox, where this QEMU build has one: no obsolete system calls, no
# set*uid, no exec, no scheduler or resource changes. Started as root on a board that
# allows it, QEMU gives root up for `nobody` once it has opened its files; its filter is
# installed before that setuid, so there `elevateprivileges` stays allowed (the dropped
# process holds no capability to regain root with).
# Each probe is a QEMU start (16-23 ms here, more under load): the usual case takes one,
# the options wanted; a QEMU that refuses them is asked again, for fewer. The answer is
# remembered per QEMU build (its path, size, time and inode) and per kind of launch, in
# ${XDG_CACHE_HOME:-~/.cache}/hermit-wasm: one option per line, or `none`. A file that
# cannot be read or holds anything but an answer a probe can give is not believed, and
# "none" is remembered only from a QEMU that starts without the options; a launcher that
# cannot write there probes every time.
sandbox=(-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny)
dropping=()
if [ "$(id -u)" -eq 0 ] && [ "$drop_privileges" = 1 ] && id -u nobody >/dev/null 2>&1; then
  dropping=(-sandbox on,obsolete=deny,spawn=deny,resourcecontrol=deny -run-with user=nobody)
fi
# answer_is WORDS...: whether the answer read (`cached`) is exactly these words.
answer_is() {
  [ ${#cached[@]} -eq $# ] && [ "$(printf '%s\n' "${cached[@]}")" = "$(printf '%s\n' "$@")" ]
}
probe_cache=
qemu_path=$(command -v "$qemu")
cache_home=${XDG_CACHE_HOME:-${HOME:+$HOME/.cache}}
if [ -n "$cache_home" ] && qemu_id=$(stat -Lc '%s-%Y-%i' "$qemu_path" 2>/dev/null); then
  probe_cache="$cache_home/hermit-wasm/qemu-options${qemu_path//\//-}-$qemu_id-${#dropping[@]}"
fi
cached=()
if [ -n "$probe_cache" ] && { mapfile -t cached <"$probe_cache"; } 2>/dev/null &&
  { answer_is "${sandbox[@]}" || answer_is none ||
    { [ ${#dropping[@]} -gt 0 ] &&
      { answer_is "${dropping[@]}" || answer_is -run-with user=nobody; }; }; }; then
  sandbox=("${cached[@]}")
  [ "${sandbox[*]}" != none ] || sandbox=()
else
  answered=1
  if [ ${#dropping[@]} -gt 0 ] && "$qemu" "${dropping[@]}" -version >/dev/null 2>&1; then
    sandbox=("${dropping[@]}")
  elif ! "$qemu" "${sandbox[@]}" -version >/dev/null 2>&1; then
    # No sandbox; still give root up where that works. Remembered only if this QEMU
    # starts at all (a probe that failed for another reason is not an answer).
    sandbox=()
    if [ ${#dropping[@]} -gt 0 ] && "$qemu" -run-with user=nobody -version >/dev/null 2>&1; then
      sandbox=(-run-with user=nobody)
    elif ! "$qemu" -version >/dev/null 2>&1; then
      answered=
    fi
  fi
  if [ -n "$answered" ] && [ -n "$probe_cache" ]; then
    {
      mkdir -p "${probe_cache%/*}" &&
        if [ ${#sandbox[@]} -eq 0 ]; then echo none; else printf '%s\n' "${sandbox[@]}"; fi \
          >"$probe_cache.$$" &&
        mv -f "$probe_cache.$$" "$probe_cache"
      rm -f "$probe_cache.$$"
    } 2>/dev/null
  fi
fi
[ "${sandbox[0]:-}" = -sandbox ] ||
  echo "$me: this QEMU has no seccomp sandbox (-sandbox): running it without" >&2
# Temporary files; QEMU options cannot hold every path with a comma, so avoid such a TMPDIR.
tmp=${TMPDIR:-/tmp}
case $tmp in *,*) tmp=/tmp ;; esac
log=$(mktemp "$tmp/hermit-wasm-log.XXXXXX") || exit 125
stdin_qemu=()
fs_qemu=()
fs_dir=
virtiofsd_pid=
qemu_pid=
stdout_pid=
# Ends process $1 and its children: SIGTERM, then SIGKILL for whatever is still there after
# 7 s (a guest blocked in a host read keeps QEMU from shutting down on its own; `timeout`
# kills at 5 s). virtiofsd's sandboxed half is such a child.
end_process() {
  local pids pid alive tries=0
  pids="$1 $(pgrep -P "$1" 2>/dev/null | tr '\n' ' ')"
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
  while [ $tries -lt 70 ]; do
    alive=
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ -n "$alive" ] || break
    sleep 0.1
    tries=$((tries + 1))
  done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
  wait "$1" 2>/dev/null
}
cleanup() {
  report_on_exit $?
  [ -z "$qemu_pid" ] || end_process "$qemu_pid"
  [ -z "$virtiofsd_pid" ] || end_process "$virtiofsd_pid"
  if [ -n "$stdout_pid" ]; then
    exec 3>&-
    wait "$stdout_pid" 2>/dev/null
  fi
  rm -f "$log" "$log.times"
  # rmdir, never rm -r: the staging folders are empty mount points, and nothing else.
  if [ -n "$fs_dir" ]; then
    # virtiofsd's socket and the pid file beside it (left when virtiofsd was killed).
    rm -f "$fs_dir/sock" "$fs_dir/sock.pid"
    rmdir "$fs_dir"/root/* "$fs_dir/root" "$fs_dir" 2>/dev/null
  fi
}
trap cleanup EXIT
# Interrupted or killed: end the VM and virtiofsd (cleanup, on exit), and exit as a shell
# does. QEMU runs in the background so that the signal is handled at once.
stopped_by() {
  trap '' INT TERM HUP
  echo "$me: stopped by signal $1: ending the VM" >&2
  write_report $((128 + $1)) signal "" "stopped by signal $1"
  exit $((128 + $1))
}
trap 'stopped_by 2' INT
trap 'stopped_by 15' TERM
trap 'stopped_by 1' HUP
# Host directories through virtio-fs: virtiofsd serves a staging folder whose k-th entry is
# a bind mount of share k (read-only shares remounted read-only, so the host refuses writes
# whatever the guest does), in a mount namespace of its own. The guest's runner drives the
# device (tag `maps`) itself and finds share k as the directory k of the share.
if [ ${#share_dirs[@]} -gt 0 ]; then
  virtiofsd=${HERMIT_WASM_VIRTIOFSD:-}
  if [ -z "$virtiofsd" ]; then
    for candidate in virtiofsd /usr/libexec/virtiofsd /usr/lib/qemu/virtiofsd; do
      if command -v "$candidate" >/dev/null 2>&1; then
        virtiofsd=$(command -v "$candidate")
        break
      fi
    done
  fi
  if [ -z "$virtiofsd" ]; then
    echo "$me: virtiofsd not found (host directories need it): apt-get install virtiofsd, or apt-get install libseccomp-dev libcap-ng-dev && cargo install virtiofsd --locked" >&2
    exit 125
  fi
  if ! command -v unshare >/dev/null 2>&1; then
    echo "$me: unshare not found (host directories need it): apt-get install util-linux" >&2
    exit 125
  fi
  fs_dir=$(mktemp -d "$tmp/hermit-wasm-fs.XXXXXX") || exit 125
  mkdir "$fs_dir/root" || exit 125
  mounts=()
  for k in "${!share_dirs[@]}"; do
    if [ ! -d "${share_dirs[$k]}" ]; then
      echo "$me: host directory '${share_dirs[$k]}' does not exist" >&2
      exit 125
    fi
    mkdir "$fs_dir/root/$k" || exit 125
    mounts+=("${share_dirs[$k]}" "${share_ro[$k]}")
  done
  namespace=(unshare --mount --propagation private)
  [ "$(id -u)" -eq 0 ] || namespace+=(--map-root-user)
  "${namespace[@]}" bash -c '
    set -e
    virtiofsd=$1 root=$2/root sock=$2/sock k=0
    shift 2
    while [ $# -gt 0 ]; do
      mount --bind "$1" "$root/$k"
      [ "$2" = 0 ] || mount -o remount,bind,ro "$root/$k"
      k=$((k + 1))
      shift 2
    done
    exec "$virtiofsd" --shared-dir "$root" --socket-path "$sock" --no-announce-submounts --log-level error
  ' share "$virtiofsd" "$fs_dir" "${mounts[@]}" >>"$log" 2>&1 </dev/null &
  virtiofsd_pid=$!
  tries=0
  until [ -S "$fs_dir/sock" ]; do
    if ! kill -0 "$virtiofsd_pid" 2>/dev/null || [ $tries -ge 200 ]; then
      echo "$me: virtiofsd did not start:" >&2
      cat "$log" >&2
      exit 125
    fi
    tries=$((tries + 1))
    sleep 0.05
  done
  # virtiofsd reads and writes the guest's memory: all of it is a shared memfd.
  fs_qemu=(-object "memory-backend-memfd,id=fsmem,size=$memory,share=on"
    -machine memory-backend=fsmem -global virtio-mmio.force-legacy=false
    -chardev "socket,id=fs,path=${fs_dir//,/,,}/sock"
    -device vhost-user-fs-device,chardev=fs,tag=maps)
  runner+=(--virtio-fs "$virtio_mmio_slots")
fi
# The kernel parses its command line with shell quoting: quote every word after its `--`.
cmdline="env=HERMIT_WASM_PLATFORM=qemu${phases:+ env=HERMIT_WASM_PHASES=1} --"
for arg in "${runner[@]}" -- "${args[@]+"${args[@]}"}"; do
  cmdline+=" '${arg//\'/\'\\\'\'}'"
done

# QEMU's stdin (fd 4 until it starts): /dev/null unless the board's stdin block streams
# this script's.
exec 4</dev/null
# The module's stdin streams through a virtio console port that QEMU backs with its own
# stdin, which is this script's (fd 4 until QEMU starts; `input-path=/dev/stdin`): the
# guest reads data as it arrives, and when it ends QEMU closes the port, which the guest
# takes as EOF. A closed stdin is an empty one.
stdin_path=/dev/null
if [ -e /dev/fd/0 ]; then
  exec 4<&0
  stdin_path=/dev/stdin
fi
stdin_qemu=(-global virtio-mmio.force-legacy=false
  -chardev "file,id=stdin,path=/dev/null,input-path=$stdin_path"
  -device virtio-serial-device,max_ports=2
  -device virtserialport,chardev=stdin,name=stdin,nr=1)
cmdline="'env=HERMIT_WASM_STDIN_VIRTIO=$virtio_mmio_slots' $cmdline"
# The module's stdout and stderr leave through two isa-debugcon ports, QEMU file chardevs.
# Where this script's stream is a regular file open for writing only, QEMU gets that very
# open file (an fd set, -add-fd, of fd 6 or 7, copies of 1 and 2), so that the module's
# bytes go where the file's offset is and what the caller writes next comes after them: a
# chardev on /dev/fd/N would open the file anew, with an offset of its own, and the
# caller's next write would land over the module's output. Terminals, pipes and sockets
# have no offset: QEMU opens those by path.
debugcon=()
for fd in 1 2; do
  name=stdout port=0xe9
  [ "$fd" = 1 ] || name=stderr port=0xea
  path=/dev/fd/$fd
  flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$$/fdinfo/$fd" 2>/dev/null)
  if [ -f "$path" ] && [ -n "$flags" ] && [ $((8#$flags & 3)) -eq 1 ]; then
    debugcon+=(-add-fd "fd=$((fd + 5)),set=$fd")
    path=/dev/fdset/$fd
  fi
  debugcon+=(-chardev "file,id=$name,path=$path,append=on" -device "isa-debugcon,iobase=$port,chardev=$name")
done
# Our loader's own words come first; it takes them off before the kernel reads the line.
cmdline="hermit-wasm.guest-elf=0x800000 $cmdline"
run=("$qemu" ${sandbox[@]+"${sandbox[@]}"} -accel "$accel" -machine "$machine" -cpu "$cpu"
  -m "$memory" -smp "$smp" -nodefaults -display none -monitor none -no-reboot
  -chardev "file,id=log,path=${log//,/,,},append=on" -serial chardev:log
  -kernel "$here/loader.elf" -device "loader,file=${here//,/,,}/guest.elf,addr=0x800000,force-raw=on" -append "$cmdline"
  "${debugcon[@]}"
  -device isa-debug-exit,iobase=0xf4,iosize=0x04)
run+=(${stdin_qemu[@]+"${stdin_qemu[@]}"} ${fs_qemu[@]+"${fs_qemu[@]}"})
# A memfd holds only the pages the guest touched (with Linux's default of no huge pages for
# shared memory), where QEMU's anonymous RAM takes a 2 MiB transparent huge page for each
# touched byte. virtio-fs's shared memfd, when there, is one.
if [ "$ram_backing" = memfd ] && [ ${#fs_qemu[@]} -eq 0 ]; then
  run+=(-object "memory-backend-memfd,id=ram,size=$memory" -machine memory-backend=ram)
fi
if [ -n "${HERMIT_WASM_QEMU_OPTIONS:-}" ]; then
  read -ra qemu_options <<< "$HERMIT_WASM_QEMU_OPTIONS"
  run+=(${qemu_options[@]+"${qemu_options[@]}"})
fi
if [ -n "$timeout" ]; then
  # In the foreground process group, so that QEMU may read a terminal.
  run=(timeout --foreground -k 5 "$timeout" "${run[@]}")
fi
children_cpu_ms
cpu_before=$children_cpu
started_ms=$(now_ms)
(
  # The CPU limit: SIGXCPU once QEMU has used it up (no core dump), SIGKILL a second later
  # if that did not end it.
  if [ -n "$limit_cpu" ]; then
    if ! { ulimit -c 0 && ulimit -S -t "$limit_cpu" && ulimit -H -t $((limit_cpu + 1)); }; then
      echo "$me: cannot set the CPU limit (ulimit -t $limit_cpu)" >&2
      exit 125
    fi
  fi
  exec "${run[@]}"
) <&4 4<&- 6>&1 7>&2 &
qemu_pid=$!
# (Quiet: bash would report a QEMU ended by a signal, such as the CPU limit's, itself.)
wait "$qemu_pid" 2>/dev/null
rc=$?
qemu_pid=
wall_ms=$(($(now_ms) - started_ms))
children_cpu_ms
[ -z "$cpu_before" ] || [ -z "$children_cpu" ] || cpu_ms=$((children_cpu - cpu_before))
if [ -n "$stdout_pid" ]; then
  exec 3>&-
  wait "$stdout_pid"
  stdout_pid=
fi

if [ -n "$phases" ]; then
  # The loader marks its phases in the machine's counter ticks; the runner read the same
  # counter beside its clock once, which converts them (both count from the machine's start).
  read -r clock_ticks clock_us < <(sed -n \
    's/^hermit-wasm: clock \([0-9]*\) ticks is \([0-9]*\) us.*$/\1 \2/p' "$log" | tail -n 1)
  if [ -n "${clock_ticks:-}" ] && [ "$clock_ticks" -gt 0 ]; then
    while read -r name ticks; do
      echo "$me: phase $name $((ticks * clock_us / clock_ticks))" >&2
    done < <(sed -n 's/^\[LOADER\] phase \([a-z]*\) at \([0-9]*\) ticks.*$/\1 \2/p' "$log")
  fi
  while read -r name us; do
    echo "$me: phase $name $us" >&2
  done < <(sed -n 's/^hermit-wasm: phase \([a-z]*\) \([0-9]*\).*$/\1 \2/p' "$log")
fi
# stopped_by_limit LIMIT STATUS MESSAGE: the launcher stopped the VM at LIMIT.
stopped_by_limit() {
  echo "$me: $3" >&2
  write_report "$2" limit "$1" "$3"
  exit "$2"
}
status=$(sed -n 's/^hermit-wasm: exit status \(-\{0,1\}[0-9][0-9]*\).*$/\1/p' "$log" | tail -n 1)
shown=
if [ -n "$show_log" ]; then
  echo "$me: kernel log:" >&2
  sed '/^hermit-wasm: exit status /d; /^hermit-wasm: run /d; /^hermit-wasm: phase /d; /^hermit-wasm: clock /d' "$log" >&2
  shown=1
fi
if [ -z "$status" ]; then
  # `timeout` gives 124, or 137 when QEMU had to be killed after it did not end on TERM.
  if [ -n "$timeout" ] && { [ "$rc" -eq 124 ] ||
    { [ "$rc" -eq 137 ] && [ "$wall_ms" -ge $((timeout * 1000)) ]; }; }; then
    stopped_by_limit wall 124 "timed out: the guest ran longer than ${timeout}s and was stopped (wall limit)"
  fi
  # QEMU killed by SIGXCPU, or by SIGKILL at the hard limit a second later. (The CPU
  # time the host reports for a child that ended may fall a few ticks short of the one
  # it checked the limit against.)
  if [ -n "$limit_cpu" ] && { [ "$rc" -eq 152 ] ||
    { [ "$rc" -eq 137 ] && [ "${cpu_ms:-0}" -ge $((limit_cpu * 1000)) ]; }; }; then
    stopped_by_limit cpu 152 "CPU limit exceeded: the VM used more than ${limit_cpu}s of CPU time and was stopped"
  fi
  # The loader refused the machine: its one line says why.
  refused=$(refusal_in "$log")
  if [ -n "$refused" ]; then
    echo "$me: cannot boot: $refused" >&2
    write_report 125 failure "" "cannot boot: $refused"
    exit 125
  fi
  message="the guest ended without reporting an exit status (QEMU exit status $rc)"
  echo "$me: $message" >&2
  if [ -z "$shown" ]; then
    echo "$me: kernel log:" >&2
    cat "$log" >&2
  fi
  write_report 125 failure "" "$message"
  exit 125
fi
# (The guest's record stands; without one, how the run ended is not known here.)
write_report $((status & 255)) unknown "" "the guest reported its status but no record of the run"
exit $((status & 255))
