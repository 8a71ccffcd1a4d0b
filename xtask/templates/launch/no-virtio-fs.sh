if [ ${#share_dirs[@]} -gt 0 ]; then
  echo "$me: board $board cannot give host directories (MAP, --map) to its guest: its kernel has no virtio-fs" >&2
  exit 125
fi
