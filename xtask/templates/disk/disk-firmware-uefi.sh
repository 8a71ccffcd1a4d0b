# UEFI firmware from two pflash units: its code, read-only, and a fresh copy of the variable
# store for each boot (one written for another disk set-up can make the firmware skip ours).
cp "$firmware_vars" "$tmp/vars.fd" || exit 125
firmware=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=${firmware_code//,/,,}"
  -drive "if=pflash,format=raw,unit=1,file=${tmp//,/,,}/vars.fd")
