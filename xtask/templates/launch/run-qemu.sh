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

image=@IMAGE@
module=@MODULE@
board=@BOARD@
qemu=@QEMU@
package=@PACKAGE@
machine=@MACHINE@
cpu=@CPU@
memory=@MEMORY@
# What holds the guest's RAM on the host: anonymous (QEMU's default) or memfd (see below).
ram_backing=@RAM_BACKING@
# MiB the guest needs besides the module's memory, and the least RAM it boots with (for a
# memory limit; see vm_memory).
memory_overhead=@MEMORY_OVERHEAD@
min_memory=@MIN_MEMORY@
shared_memory=@SHARED_MEMORY@
shared_memory_capacity=@SHARED_MEMORY_CAPACITY@
module_sha256=@MODULE_SHA256@
# The image's limits the launcher enforces or sizes the VM by (empty: none), from its LIMIT
# lines; the runner reads the others (output, files, threads) from the image itself.
limit_memory=@LIMIT_MEMORY@
limit_cpu=@LIMIT_CPU@
limit_wall=@LIMIT_WALL@
smp=@SMP@
max_cpus=@MAX_CPUS@
drop_privileges=@DROP_PRIVILEGES@
virtio_mmio_slots=@VIRTIO_MMIO_SLOTS@

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
@IMAGE_MAPS@
@MAP_FUNCTIONS@
@LIMIT_FUNCTIONS@
@REPORT_FUNCTIONS@
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
@KVM@
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
@SHARES@
# The kernel parses its command line with shell quoting: quote every word after its `--`.
cmdline="env=HERMIT_WASM_PLATFORM=qemu@KERNEL_ENV@${phases:+ env=HERMIT_WASM_PHASES=1} --"
for arg in "${runner[@]}" -- "${args[@]+"${args[@]}"}"; do
  cmdline+=" '${arg//\'/\'\\\'\'}'"
done

# QEMU's stdin (fd 4 until it starts): /dev/null unless the board's stdin block streams
# this script's.
exec 4</dev/null
@STDIN@
@STDOUT@
# Our loader's own words come first; it takes them off before the kernel reads the line.
cmdline="@LOADER_WORDS@$cmdline"
run=("$qemu" ${sandbox[@]+"${sandbox[@]}"} -accel "$accel" -machine "$machine" -cpu "$cpu"
  -m "$memory" -smp "$smp" -nodefaults -display none -monitor none -no-reboot
  -chardev "file,id=log,path=${log//,/,,},append=on" -serial chardev:log
@DEVICES@)
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
) <&4 4<&-@REDIRECT@ &
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
