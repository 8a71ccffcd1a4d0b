#!/usr/bin/env bash
# run-qemu.sh: boots this folder's Hermit-WASM image (named below) under QEMU. Written by
# `cargo xtask image`; self-contained: copy the folder to any machine with QEMU and run it
# there.
#
# usage: run-qemu.sh [--timeout SECONDS] [--kernel-log] [--cpus N] [--env KEY=VALUE]...
#                    [--map HOST[:GUEST][:ro]]... [--] [MODULE ARGUMENTS...]
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
# guest fails. Exit status: the module's; 134 if it trapped; 124 when --timeout stopped it;
# 125 when the VM could not run or ended without a status; 128+N when signal N (Ctrl-C,
# kill) stopped this script, which then ends the VM and virtiofsd first.
#
# HERMIT_WASM_LAUNCHER, when set, is the program the user ran instead of this script (a
# bundle sets it): messages and the module's executable name use it.
set -uo pipefail

image=@IMAGE@
module=@MODULE@
board=@BOARD@
qemu=@QEMU@
package=@PACKAGE@
machine=@MACHINE@
cpu=@CPU@
memory=@MEMORY@
smp=@SMP@
max_cpus=@MAX_CPUS@
drop_privileges=@DROP_PRIVILEGES@
virtio_mmio_slots=@VIRTIO_MMIO_SLOTS@

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
launcher=${HERMIT_WASM_LAUNCHER:-$0}
me=$(basename "$launcher")
timeout=
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
    --kernel-log) show_log=1; shift ;;
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
if [ -n "$timeout" ] && ! [[ $timeout =~ ^[0-9]+$ ]]; then
  echo "$me: --timeout takes whole seconds, not '$timeout'" >&2
  exit 125
fi

if ! command -v "$qemu" >/dev/null 2>&1; then
  echo "$me: $qemu not found: apt-get install $package" >&2
  exit 125
fi
accel=tcg
@KVM@
# QEMU's seccomp sandbox, where this QEMU build has one: no obsolete system calls, no
# set*uid, no exec, no scheduler or resource changes. Started as root on a board that
# allows it, QEMU gives root up for `nobody` once it has opened its files; its filter is
# installed before that setuid, so there `elevateprivileges` stays allowed (the dropped
# process holds no capability to regain root with).
sandbox=(-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny)
if [ "$(id -u)" -eq 0 ] && [ "$drop_privileges" = 1 ] && id -u nobody >/dev/null 2>&1 &&
  "$qemu" -run-with user=nobody -version >/dev/null 2>&1; then
  sandbox=(-sandbox on,obsolete=deny,spawn=deny,resourcecontrol=deny -run-with user=nobody)
fi
if ! "$qemu" "${sandbox[@]}" -version >/dev/null 2>&1; then
  echo "$me: this QEMU has no seccomp sandbox (-sandbox): running it without" >&2
  sandbox=()
fi
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
  [ -z "$qemu_pid" ] || end_process "$qemu_pid"
  [ -z "$virtiofsd_pid" ] || end_process "$virtiofsd_pid"
  if [ -n "$stdout_pid" ]; then
    exec 3>&-
    wait "$stdout_pid" 2>/dev/null
  fi
  rm -f "$log"
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
  exit $((128 + $1))
}
trap 'stopped_by 2' INT
trap 'stopped_by 15' TERM
trap 'stopped_by 1' HUP
@SHARES@
# The kernel parses its command line with shell quoting: quote every word after its `--`.
cmdline="env=HERMIT_WASM_PLATFORM=qemu@KERNEL_ENV@ --"
for arg in "${runner[@]}" -- "${args[@]+"${args[@]}"}"; do
  cmdline+=" '${arg//\'/\'\\\'\'}'"
done

# QEMU's stdin (fd 4 until it starts): /dev/null unless the board's stdin block streams
# this script's.
exec 4</dev/null
@STDIN@
@STDOUT@
run=("$qemu" ${sandbox[@]+"${sandbox[@]}"} -accel "$accel" -machine "$machine" -cpu "$cpu"
  -m "$memory" -smp "$smp" -nodefaults -display none -monitor none -no-reboot
  -chardev "file,id=log,path=${log//,/,,},append=on" -serial chardev:log
@DEVICES@)
run+=(${stdin_qemu[@]+"${stdin_qemu[@]}"} ${fs_qemu[@]+"${fs_qemu[@]}"})
if [ -n "$timeout" ]; then
  # In the foreground process group, so that QEMU may read a terminal.
  run=(timeout --foreground -k 5 "$timeout" "${run[@]}")
fi
"${run[@]}" <&4 4<&-@REDIRECT@ &
qemu_pid=$!
wait "$qemu_pid"
rc=$?
qemu_pid=
if [ -n "$stdout_pid" ]; then
  exec 3>&-
  wait "$stdout_pid"
  stdout_pid=
fi

status=$(sed -n 's/^hermit-wasm: exit status \(-\{0,1\}[0-9][0-9]*\).*$/\1/p' "$log" | tail -n 1)
shown=
if [ -n "$show_log" ]; then
  echo "$me: kernel log:" >&2
  sed '/^hermit-wasm: exit status /d' "$log" >&2
  shown=1
fi
if [ -z "$status" ]; then
  if [ -n "$timeout" ] && [ "$rc" -eq 124 ]; then
    echo "$me: timed out: the guest ran longer than ${timeout}s and was stopped" >&2
    rc=124
  else
    echo "$me: the guest ended without reporting an exit status (QEMU exit status $rc)" >&2
    rc=125
  fi
  if [ -z "$shown" ]; then
    echo "$me: kernel log:" >&2
    cat "$log" >&2
  fi
  exit "$rc"
fi
exit $((status & 255))
