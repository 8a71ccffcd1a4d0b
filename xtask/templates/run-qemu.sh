#!/usr/bin/env bash
# run-qemu.sh: boots the Hermit-WASM image "@IMAGE@" (module @MODULE@) for board @BOARD@
# under QEMU. Written by `cargo xtask image`; self-contained: copy this folder to any
# machine with QEMU (@PACKAGE@) and run it there.
#
# usage: run-qemu.sh [--timeout SECONDS] [--kernel-log] [--env KEY=VALUE]...
#                    [--map HOST[:GUEST][:ro]]... [--] [MODULE ARGUMENTS...]
#
# Host directories (the image's MAP lines, then --map) reach the guest through virtio-fs:
# the script starts virtiofsd (from PATH, or $HERMIT_WASM_VIRTIOFSD) on a staging folder
# that holds each directory as a bind mount, read-only ones mounted read-only, in a mount
# namespace of its own (unshare; as root, or as a user where user namespaces are allowed).
#
# The module's stdout is this script's stdout, byte for byte. Its stderr goes to stderr,
# and so does the kernel's log with --kernel-log (or HERMIT_WASM_KERNEL_LOG=1) or when the
# guest fails. Exit status: the module's; 134 if it trapped; 124 when --timeout stopped it;
# 125 when the VM could not run or ended without a status.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me=$(basename "$0")
timeout=
show_log=${HERMIT_WASM_KERNEL_LOG:-}
args=()
# Runner options, as the guest's runner reads them before its own `--` (see launch.rs).
runner=(--pwd "$PWD" --exe-name "$0")
# Host directories to share with the guest, in the runner's order: the image's, then --map's.
@IMAGE_MAPS@
@ADD_MAP@
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
    --) shift; args+=("$@"); break ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -n "$timeout" ] && ! [[ $timeout =~ ^[0-9]+$ ]]; then
  echo "$me: --timeout takes whole seconds, not '$timeout'" >&2
  exit 125
fi

qemu=@QEMU@
if ! command -v "$qemu" >/dev/null 2>&1; then
  echo "$me: $qemu not found: apt-get install @PACKAGE@" >&2
  exit 125
fi
accel=tcg
cpu='@CPU@'
machine='@MACHINE@'
@KVM@
# Temporary files; QEMU options cannot hold every path with a comma, so avoid such a TMPDIR.
tmp=${TMPDIR:-/tmp}
case $tmp in *,*) tmp=/tmp ;; esac
log=$(mktemp "$tmp/hermit-wasm-log.XXXXXX") || exit 125
stdin_file=
stdin_qemu=()
fs_qemu=()
fs_dir=
virtiofsd_pid=
cleanup() {
  rm -f "$log" "$stdin_file"
  if [ -n "$virtiofsd_pid" ]; then
    kill "$virtiofsd_pid" 2>/dev/null
    wait "$virtiofsd_pid" 2>/dev/null
  fi
  # rmdir, never rm -r: the staging folders are empty mount points, and nothing else.
  if [ -n "$fs_dir" ]; then
    rm -f "$fs_dir/sock"
    rmdir "$fs_dir"/root/* "$fs_dir/root" "$fs_dir" 2>/dev/null
  fi
}
trap cleanup EXIT
@SHARES@
# The kernel parses its command line with shell quoting: quote every word after its `--`.
cmdline="env=HERMIT_WASM_PLATFORM=qemu@KERNEL_ENV@ --"
for arg in "${runner[@]}" -- "${args[@]+"${args[@]}"}"; do
  cmdline+=" '${arg//\'/\'\\\'\'}'"
done

@STDIN@

run=("$qemu" -accel "$accel" -machine "$machine" -cpu "$cpu" -m '@MEMORY@' -smp @SMP@
  -nodefaults -display none -monitor none -no-reboot
  -chardev "file,id=log,path=${log//,/,,},append=on" -serial chardev:log
@DEVICES@)
run+=(${stdin_qemu[@]+"${stdin_qemu[@]}"} ${fs_qemu[@]+"${fs_qemu[@]}"})
if [ -n "$timeout" ]; then
  run=(timeout -k 5 "$timeout" "${run[@]}")
fi
"${run[@]}" </dev/null@REDIRECT@
rc=${PIPESTATUS[0]}

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
