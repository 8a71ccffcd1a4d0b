#!/usr/bin/env bash
# A Hermit-WASM bundle: one image (named below) for one or more boards, each with its
# loader, its guest carrying the module, its run-qemu.sh and its manifest, in one file.
# Written by `cargo xtask bundle`; runs on any Linux machine with bash, tar, gzip and QEMU.
#
# usage: BUNDLE [--manifest] [--board BOARD] [run-qemu.sh options] [--] [MODULE ARGUMENTS...]
#
#   --manifest     print the bundle's manifest (JSON: every image's manifest.json) and
#                  exit, without booting anything
#   --board BOARD  boot that board's image; by default the first whose architecture is
#                  this machine's, else the first in the bundle
# Every other option and the exit status are run-qemu.sh's (--timeout, --cpus, --env, --map,
# --kernel-log; see its header). The image is unpacked into a private folder under
# $TMPDIR (or /tmp) that is removed when the run ends, signals included; nothing is
# written to the current folder.
set -uo pipefail

image=@IMAGE@
boards=(@BOARDS@)
arches=(@ARCHES@)
# Where the archive (tar.gz) after this script starts in the file, in bytes (decimal,
# zero-padded to a fixed width).
archive_start=@ARCHIVE_START@

self=$0
me=$(basename "$0")
archive() { tail -c +$((10#$archive_start + 1)) -- "$self"; }

board=
while [ $# -gt 0 ]; do
  case $1 in
    --manifest)
      archive | tar -xzOf - bundle.json ||
        { echo "$me: cannot read the manifest from this file: is it complete?" >&2; exit 125; }
      exit 0 ;;
    --board)
      [ $# -ge 2 ] || { echo "$me: --board needs a board name" >&2; exit 125; }
      board=$2; shift 2 ;;
    --board=*) board=${1#--board=}; shift ;;
    *) break ;;
  esac
done

if [ -z "$board" ]; then
  board=${boards[0]}
  host=$(uname -m)
  for i in "${!boards[@]}"; do
    if [ "${arches[$i]}" = "$host" ]; then
      board=${boards[$i]}
      break
    fi
  done
else
  found=
  for b in "${boards[@]}"; do [ "$b" = "$board" ] && found=1; done
  if [ -z "$found" ]; then
    echo "$me: this bundle of $image has no image for board '$board' (it has: ${boards[*]})" >&2
    exit 125
  fi
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/hermit-wasm-bundle.XXXXXX") || exit 125
child=
trap 'rm -rf -- "$dir"' EXIT
# Interrupted or killed: stop run-qemu.sh, which ends its VM, then remove the folder (on
# exit). run-qemu.sh runs in the background, where bash ignores SIGINT, so it is always
# told with SIGTERM.
stopped_by() {
  trap '' INT TERM HUP
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  exit $((128 + $1))
}
trap 'stopped_by 2' INT
trap 'stopped_by 15' TERM
trap 'stopped_by 1' HUP

if ! archive | tar -xzf - -C "$dir" "$board"; then
  echo "$me: cannot unpack the $board image from this file into $dir" >&2
  exit 125
fi
# The module sees this file as the program it runs (ENV_EXE_NAME_IS_HOST_EXE_NAME).
HERMIT_WASM_LAUNCHER=$self "$dir/$board/run-qemu.sh" "$@" <&0 &
child=$!
wait "$child"
rc=$?
child=
exit "$rc"
