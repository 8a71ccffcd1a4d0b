# OpenSBI (QEMU's own, `-bios default`) starts U-Boot in S-mode; U-Boot's standard boot finds
# extlinux/extlinux.conf on the disk.
firmware=(-bios default -kernel "$firmware_code")
