#!/usr/bin/env bash
# run-disk.sh: boots this folder's disk.raw (image named below) the way a cloud VM or a
# board boots it: QEMU's machine with the board's firmware (UEFI, or U-Boot), the disk on
# the first of the buses below, the serial port as the only console, no device of QEMU's
# for output or exit. Written by `cargo xtask disk`.
#
# usage: run-disk.sh [--timeout SECONDS] [--disk-bus BUS] [--console]
#                    [--report FILE] [--] [MODULE ARGUMENTS...]
#
# The module's stdout and stderr both reach the serial console, followed by the line
# `hermit-wasm: exit status N`; the guest then powers the machine off. This script prints
# what the module wrote (the console's lines between the loader's hand-off and the status
# line, without the kernel's log lines) to stdout, or the whole console with --console,
# and exits with the module's status: 134 if it trapped, 124 when --timeout stopped it,
# 125 when the VM could not run or ended without a status, 128+N on signal N.
# Module arguments go into a copy of the disk's command line file (mtools' mcopy); the
# disk itself is never written (QEMU runs it as a snapshot). --report FILE writes the run
# report, as run-qemu.sh does.
# HERMIT_WASM_QEMU_OPTIONS, when set, is added to QEMU's options, split at blanks (one line;
# no quoting), as in run-qemu.sh: for experiments and other firmware set-ups (the tests boot
# an aarch64 disk with `-machine acpi=off`, where the firmware gives a device tree).
set -uo pipefail

image='app'
board='x86_64-kvm'
qemu='qemu-system-x86_64'
package='qemu-system-x86'
machine='q35'
cpu='qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+fsgsbase,+xsave,+xsaveopt,+rdtscp,+rdrand'
memory='512M'
firmware_code='/usr/share/OVMF/OVMF_CODE_4M.fd'
firmware_vars='/usr/share/OVMF/OVMF_VARS_4M.fd'
firmware_package='ovmf'
# The buses the firmware boots from, the first by default.
buses='nvme virtio-scsi'
cmdline_file='hermit-wasm/cmdline.txt'
module_sha256='ab12'

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me=$(basename "$0")
timeout=
bus=${buses%% *}
console=
report=
args=()
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
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) [ $# -ge 2 ] || { echo "$me: --timeout needs seconds" >&2; exit 125; }
      timeout=$2; shift 2 ;;
    --timeout=*) timeout=${1#--timeout=}; shift ;;
    --disk-bus) [ $# -ge 2 ] || { echo "$me: --disk-bus needs one of: $buses" >&2; exit 125; }
      bus=$2; shift 2 ;;
    --disk-bus=*) bus=${1#--disk-bus=}; shift ;;
    --console) console=1; shift ;;
    --report) [ $# -ge 2 ] || { echo "$me: --report needs a file" >&2; exit 125; }
      report=$2; shift 2 ;;
    --report=*) report=${1#--report=}; shift ;;
    --) shift; args+=("$@"); break ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -n "$timeout" ] && ! [[ $timeout =~ ^[0-9]+$ ]]; then
  echo "$me: --timeout takes whole seconds, not '$timeout'" >&2; exit 125
fi
if [ -n "$report" ] && ! : 2>/dev/null >"$report"; then
  echo "$me: --report: cannot write '$report'" >&2; report=; exit 125
fi
case " $buses " in
  *" $bus "*) ;;
  *) echo "$me: --disk-bus is one of: $buses (what the firmware boots from), not '$bus'" >&2; exit 125 ;;
esac
case $bus in
  nvme) disk_device=(-device nvme,serial=hermit-wasm,drive=disk) ;;
  virtio-scsi) disk_device=(-device virtio-scsi-pci,id=scsi -device scsi-hd,bus=scsi.0,drive=disk) ;;
  virtio-blk) disk_device=(-device virtio-blk-pci,drive=disk) ;;
esac
command -v "$qemu" >/dev/null 2>&1 || { echo "$me: $qemu not found: apt-get install $package" >&2; exit 125; }
for file in "$firmware_code" ${firmware_vars:+"$firmware_vars"}; do
  [ -r "$file" ] || { echo "$me: no firmware at $file: apt-get install $firmware_package" >&2; exit 125; }
done
[ -r "$here/disk.raw" ] || { echo "$me: $here/disk.raw is missing or unreadable: cargo xtask disk --board $board" >&2; exit 125; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hermit-wasm-disk.XXXXXX") || exit 125
log=$tmp/console.log
qemu_pid=
cleanup() {
  report_on_exit $?
  if [ -n "$qemu_pid" ]; then
    kill -TERM "$qemu_pid" 2>/dev/null
    wait "$qemu_pid" 2>/dev/null
  fi
  rm -rf -- "$tmp"
}
trap cleanup EXIT
stopped_by() {
  trap '' INT TERM HUP
  echo "$me: stopped by signal $1: ending the VM" >&2
  write_report $((128 + $1)) signal "" "stopped by signal $1"
  exit $((128 + $1))
}
trap 'stopped_by 2' INT
trap 'stopped_by 15' TERM
trap 'stopped_by 1' HUP

# UEFI firmware from two pflash units: its code, read-only, and a fresh copy of the variable
# store for each boot (one written for another disk set-up can make the firmware skip ours).
cp "$firmware_vars" "$tmp/vars.fd" || exit 125
firmware=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=${firmware_code//,/,,}"
  -drive "if=pflash,format=raw,unit=1,file=${tmp//,/,,}/vars.fd")
disk=$here/disk.raw
if [ ${#args[@]} -gt 0 ]; then
  command -v mcopy >/dev/null 2>&1 || { echo "$me: module arguments need mtools' mcopy: apt-get install mtools" >&2; exit 125; }
  cp "$disk" "$tmp/disk.raw" || exit 125
  disk=$tmp/disk.raw
  # The arguments, shell-quoted, go at the end of the line that holds the command line,
  # escaped as the boot route needs. A newline would end that line: refused.
  extra=" --"
  for arg in "${args[@]}"; do
    case $arg in *$'\n'*) echo "$me: a module argument holds a newline, which the disk's $cmdline_file cannot carry" >&2; exit 125 ;; esac
    extra+=" '${arg//\'/\'\\\'\'}'"
  done
  :
  mtype -i "$disk@@1M" "::/$cmdline_file" > "$tmp/config.old" &&
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line%$'\r'}
      case $line in
        ?*) printf '%s%s\n' "$line" "$extra" ;;
        *) printf '%s\n' "$line" ;;
      esac
    done < "$tmp/config.old" > "$tmp/cmdline.txt" &&
    mcopy -o -i "$disk@@1M" "$tmp/cmdline.txt" "::/$cmdline_file" ||
    { echo "$me: cannot write the module arguments into the disk's $cmdline_file" >&2; exit 125; }
fi

run=("$qemu" -accel tcg -machine "$machine" -cpu "$cpu" -m "$memory" -smp 1
  -nodefaults -display none -monitor none
  "${firmware[@]}"
  -drive "if=none,id=disk,format=raw,snapshot=on,file=${disk//,/,,}"
  "${disk_device[@]}"
  -chardev "file,id=console,path=${log//,/,,}" -serial chardev:console)
if [ -n "${HERMIT_WASM_QEMU_OPTIONS:-}" ]; then
  read -ra qemu_options <<< "$HERMIT_WASM_QEMU_OPTIONS"
  run+=(${qemu_options[@]+"${qemu_options[@]}"})
fi
if [ -n "$timeout" ]; then
  run=(timeout -k 5 "$timeout" "${run[@]}")
fi
children_cpu_ms
cpu_before=$children_cpu
started_ms=$(now_ms)
"${run[@]}" </dev/null &
qemu_pid=$!
wait "$qemu_pid"
rc=$?
qemu_pid=
wall_ms=$(($(now_ms) - started_ms))
children_cpu_ms
[ -z "$cpu_before" ] || [ -z "$children_cpu" ] || cpu_ms=$((children_cpu - cpu_before))

if [ -n "$console" ]; then
  cat "$log"
else
  # The module's lines: after the loader's hand-off, before the status line, without the
  # kernel's own log lines (`[CPU][LEVEL] ...`). The console ends lines with CR LF.
  tr -d '\r' < "$log" | sed -n '/^\[LOADER\] jumping to the guest$/,/^hermit-wasm: exit status /p' |
    sed '1d;/^hermit-wasm: exit status /d;/^hermit-wasm: run /d;/^\[[0-9][0-9]*\]\[[A-Z]*\] /d' | sed '$ { /^$/d }'
fi
status=$(tr -d '\r' < "$log" | sed -n 's/^hermit-wasm: exit status \(-\{0,1\}[0-9][0-9]*\)$/\1/p' | tail -n 1)
boots=$(grep -c '^\[LOADER\] Hermit-WASM loader' "$log")
if [ "$boots" -gt 1 ]; then
  echo "$me: the machine booted $boots times: it reset instead of powering off" >&2
  write_report 125 failure "" "the machine booted $boots times: it reset instead of powering off"
  exit 125
fi
if [ -z "$status" ]; then
  if [ -n "$timeout" ] && [ "$rc" -eq 124 ]; then
    echo "$me: timed out: the VM ran longer than ${timeout}s and was stopped" >&2
    write_report 124 limit wall "wall limit exceeded: the VM ran longer than ${timeout}s and was stopped"
    exit 124
  fi
  # The loader refused the machine: its one line says why.
  refused=$(refusal_in "$log")
  if [ -n "$refused" ]; then
    echo "$me: cannot boot: $refused" >&2
    write_report 125 failure "" "cannot boot: $refused"
    exit 125
  fi
  echo "$me: the VM ended without reporting an exit status (QEMU exit status $rc); console:" >&2
  tr -d '\r' < "$log" | tail -n 40 >&2
  write_report 125 failure "" "the VM ended without reporting an exit status (QEMU exit status $rc)"
  exit 125
fi
if [ -n "$timeout" ] && [ "$rc" -eq 124 ]; then
  # The run is over, but the machine halted instead of powering off (no sleep register).
  echo "$me: the module ended, but the machine did not power off (it halted); --timeout stopped it" >&2
fi
write_report $((status & 255)) exit "" ""
exit $((status & 255))
