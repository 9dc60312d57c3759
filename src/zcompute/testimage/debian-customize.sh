#!/bin/sh
# Turns mmdebstrap's root file system ($1) into a cloud guest: run once, as mmdebstrap's
# customize hook, after every package is installed. Part of the image's content key.
set -eu
root="$1"
label="$2"  # the root file system's label: the kernel command line and fstab find it by it
shift 2  # the rest: the kernel modules the initramfs needs to find and mount the root disk

# update-initramfs was a no-op while packages were installed (the essential hook diverted it):
# under qemu-user each run takes minutes, and the kernel, udev and friends each asked for one.
rm "$root/usr/sbin/update-initramfs"
chroot "$root" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
# Only the modules a zcompute guest boots with (virtio, ext4), not MODULES=most: mkinitramfs
# looks up every module it copies, which takes minutes per thousand modules under qemu-user.
printf 'MODULES=list\nCOMPRESS=zstd\n' > "$root/etc/initramfs-tools/conf.d/zcompute"
printf '%s\n' "$@" >> "$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -c -k all

# Nothing of the build host goes into the guest: mmdebstrap copies its hostname and resolver.
echo debian > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
rm -f "$root/etc/resolv.conf"
# Each guest makes its own identity on first boot: machine id, SSH host keys (cloud-init).
: > "$root/etc/machine-id"
rm -f "$root"/etc/ssh/ssh_host_*

# The root file system is a whole disk (no partition table): cloud-init's resizefs grows it to
# the disk the flavor asked for. It is found by label, not as /dev/vda: on s390x the CCW
# devices are probed in parallel, so a config drive can come up as vda before the root disk.
printf 'LABEL=%s\t/\text4\tdefaults,errors=remount-ro\t0\t1\n' "$label" > "$root/etc/fstab"

cat > "$root/etc/cloud/cloud.cfg.d/90-zcompute.cfg" <<'EOF'
# zcompute guests get their instance data from a config drive (OpenStack format).
datasource_list: [ConfigDrive, NoCloud, None]
# A minbase image has no en_US.UTF-8 locale; C.UTF-8 is built into glibc.
locale: C.UTF-8
# /etc/hosts names the instance's hostname, as Nova's images do.
manage_etc_hosts: true
# No DSA host key (OpenSSH no longer uses it); each key type costs seconds under TCG.
ssh_genkeytypes: [ed25519, ecdsa, rsa]
EOF

# The guest agent is started by udev when its virtio port appears; nothing waits for a network
# that a guest without NICs never gets.
chroot "$root" systemctl mask systemd-networkd-wait-online.service apt-daily.timer \
    apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true

# apt's lists and caches are removed here, not by mmdebstrap's own cleanup (skipped): that
# cleanup runs apt-get update with no sources, and with this package set it emptied the
# *host's* /var/lib/apt/lists (measured).
rm -rf "$root"/var/lib/apt/lists/*_* "$root"/var/lib/apt/lists/auxfiles
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
rm -rf "$root"/var/cache/debconf/*-old "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/*
