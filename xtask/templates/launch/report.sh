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
