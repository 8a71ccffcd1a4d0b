# The module's stdout reaches QEMU as fd 3, a pipe to cat that writes to this script's
# stdout: OpenSBI takes semihosting's standard output for its console (the kernel's log, so
# QEMU's stdout goes to the log file), and the guest opens /dev/fd/3 as a host file. A pipe,
# because QEMU opens semihosting files without O_APPEND, which would write over a file this
# script's stdout appends to or shares with its stderr.
exec 3> >(cat)
stdout_pid=$!
