# The module's stdout and stderr leave through two isa-debugcon ports, QEMU file chardevs.
# Where this script's stream is a regular file open for writing only, QEMU gets that very
# open file (an fd set, -add-fd, of fd 6 or 7, copies of 1 and 2), so that the module's
# bytes go where the file's offset is and what the caller writes next comes after them: a
# chardev on /dev/fd/N would open the file anew, with an offset of its own, and the
# caller's next write would land over the module's output. Terminals, pipes and sockets
# have no offset: QEMU opens those by path.
debugcon=()
for fd in 1 2; do
  name=stdout port=0xe9
  [ "$fd" = 1 ] || name=stderr port=0xea
  path=/dev/fd/$fd
  flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$$/fdinfo/$fd" 2>/dev/null)
  if [ -f "$path" ] && [ -n "$flags" ] && [ $((8#$flags & 3)) -eq 1 ]; then
    debugcon+=(-add-fd "fd=$((fd + 5)),set=$fd")
    path=/dev/fdset/$fd
  fi
  debugcon+=(-chardev "file,id=$name,path=$path,append=on" -device "isa-debugcon,iobase=$port,chardev=$name")
done
