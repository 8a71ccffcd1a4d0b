# The module's stdin streams through a virtio console port that QEMU backs with its own
# stdin, which is this script's (fd 4 until QEMU starts; `input-path=/dev/stdin`): the
# guest reads data as it arrives, and when it ends QEMU closes the port, which the guest
# takes as EOF. A closed stdin is an empty one.
stdin_path=/dev/null
if [ -e /dev/fd/0 ]; then
  exec 4<&0
  stdin_path=/dev/stdin
fi
stdin_qemu=(-global virtio-mmio.force-legacy=false
  -chardev "file,id=stdin,path=/dev/null,input-path=$stdin_path"
  -device virtio-serial-device,max_ports=2
  -device virtserialport,chardev=stdin,name=stdin,nr=1)
cmdline="'env=HERMIT_WASM_STDIN_VIRTIO=$virtio_mmio_slots' $cmdline"
