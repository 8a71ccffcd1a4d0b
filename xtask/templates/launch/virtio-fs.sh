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
