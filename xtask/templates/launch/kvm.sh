# KVM where the CPU has vmx/svm and /dev/kvm opens; else QEMU's emulator, said on a
# terminal only: in a pipeline stderr is the module's alone, as under `wasmtime run`.
if grep -qwE 'vmx|svm' /proc/cpuinfo 2>/dev/null && { : <>/dev/kvm; } 2>/dev/null; then
  accel=kvm
  cpu=@KVM_CPU@
elif [ -t 2 ]; then
  echo "$me: no hardware virtualisation (vmx/svm and a usable /dev/kvm): using QEMU's emulator (TCG)" >&2
fi
