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
