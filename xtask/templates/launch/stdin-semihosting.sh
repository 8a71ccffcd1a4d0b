# The module's stdin streams: the guest reads QEMU's own stdin, which is this script's, as a
# host file by semihosting (`/dev/stdin`), a read at a time as data arrives; its end is EOF.
# A closed stdin is an empty one.
if [ -e /dev/fd/0 ]; then
  exec 4<&0
  cmdline="'env=HERMIT_WASM_STDIN=/dev/stdin' $cmdline"
fi
