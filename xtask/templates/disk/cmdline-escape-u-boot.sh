# U-Boot's macro processing, which the `append` line goes through, drops the first
# backslash of each run of them and takes an unescaped ' as a quote and $ as a variable:
# each run of backslashes gets one more, and ' and $ a backslash before them
# (xtask/src/disk/config.rs, uboot_escape, does the same).
escape_cmdline() {
  local s=$1 out= i=0 c n
  while [ "$i" -lt "${#s}" ]; do
    c=${s:i:1}
    if [ "$c" = '\' ]; then
      n=0
      while [ "${s:i:1}" = '\' ]; do n=$((n + 1)); i=$((i + 1)); done
      out+='\'
      while [ "$n" -gt 0 ]; do out+='\'; n=$((n - 1)); done
      if [ "$i" -lt "${#s}" ]; then out+=${s:i:1}; i=$((i + 1)); fi
      continue
    fi
    case $c in
      \'|\$) out+='\'$c ;;
      *) out+=$c ;;
    esac
    i=$((i + 1))
  done
  printf '%s' "$out"
}
extra=$(escape_cmdline "$extra")
