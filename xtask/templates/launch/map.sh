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
