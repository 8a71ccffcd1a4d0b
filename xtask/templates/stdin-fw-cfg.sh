# The module's stdin: all of it, handed over as a fw_cfg file (its end is EOF). Collected in
# the background so that a signal stops the collection too.
if [ ! -t 0 ]; then
  stdin_file=$(mktemp "$tmp/hermit-wasm-stdin.XXXXXX") || exit 125
  cat <&0 > "$stdin_file" &
  wait $!
  # QEMU option values double their commas.
  stdin_qemu=(-fw_cfg "name=opt/hermit-wasm/stdin,file=${stdin_file//,/,,}")
fi
