#!/bin/sh
# /init of zcompute's test guest (PID 1, busybox sh).
#
# Prints one machine-readable banner on /dev/console (the log console), then the block devices and
# NICs it sees, then either powers off (zcompute.mode=poweroff) or keeps an interactive shell on the
# interactive console (zcompute.tty=...) and reports device hotplug on /dev/console.
#
# A graceful shutdown request from the host is honoured on every architecture: the init prints
# ZCOMPUTE-SHUTDOWN-REQUESTED and powers off. It arrives as SIGINT to PID 1 (see below).
/bin/busybox --install -s /bin
export PATH=/bin HOME=/ TERM=vt100
mkdir -p /proc /sys /dev /tmp /mnt
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

for mod in $(cat /etc/zcompute/modules); do
    insmod "/lib/modules/$mod.ko" 2>/dev/null
done

arg() {
    for word in $(cat /proc/cmdline); do
        case "$word" in "$1"=*) echo "${word#*=}"; return ;; esac
    done
}
say() { echo "$*" > /dev/console; }

block_list() { ls /sys/block 2>/dev/null | grep -v -E '^(loop|ram)' ; }
nic_list() { ls /sys/class/net 2>/dev/null | grep -v '^lo$' ; }
# A NIC's identity: its name and ifindex. A NIC unplugged and another plugged between two polls
# may get the same name, never the same ifindex.
nic_ids() { for n in $(nic_list); do echo "$n:$(cat "/sys/class/net/$n/ifindex" 2>/dev/null)"; done; }
report_block() {
    sectors=$(cat "/sys/block/$1/size" 2>/dev/null)
    serial=$(cat "/sys/block/$1/serial" 2>/dev/null)
    say "ZCOMPUTE-BLOCK $2name=$1 sectors=${sectors:-0} serial=${serial:-none}"
}
report_nic() {
    mac=$(cat "/sys/class/net/$1/address" 2>/dev/null)
    state=$(cat "/sys/class/net/$1/operstate" 2>/dev/null)
    say "ZCOMPUTE-NIC $2name=$1 mac=${mac:-none} state=${state:-unknown}"
}

# How a host's shutdown request (virDomainShutdown, and libvirt's soft reboot) reaches this init:
# - s390x: QEMU sends an SCLP "signal quiesce" event; the kernel calls ctrl_alt_del(). With the
#   default kernel.ctrl-alt-del=1 the kernel restarts at once (QEMU then sees the guest stop),
#   without this init knowing. With 0 the kernel sends SIGINT to PID 1 instead.
# - x86_64: QEMU presses the ACPI power button; the button driver reports it on an evdev input
#   device; busybox acpid runs /etc/acpi/PWRF/00000080, which sends PID 1 the same SIGINT.
# Tests make the guest deaf to shutdown requests (to see the host force it) by creating
# /tmp/zcompute-ignore-shutdown.
shutdown_requested() {
    if [ -e /tmp/zcompute-ignore-shutdown ]; then
        say "ZCOMPUTE-SHUTDOWN-IGNORED"
        return
    fi
    say "ZCOMPUTE-SHUTDOWN-REQUESTED"
    sleep 1  # the s390x line-mode console flushes on a timer
    poweroff -f
}
trap shutdown_requested INT
echo 0 > /proc/sys/kernel/ctrl-alt-del
if ls /dev/input/event* >/dev/null 2>&1; then
    mkdir -p /etc/acpi/PWRF
    printf '#!/bin/sh\nkill -INT 1\n' > /etc/acpi/PWRF/00000080
    chmod 0755 /etc/acpi/PWRF/00000080
    acpid -f -c /etc/acpi -l /dev/null -p /tmp/acpid.pid </dev/null >/dev/null 2>&1 &
fi

sleep 0.3  # let virtio devices probe after their modules load
cpu=$(grep -m1 -E '^(machine|model name|CPU part|cpu)[[:space:]]*:' /proc/cpuinfo | sed 's/.*:[[:space:]]*//')
[ -n "$cpu" ] || cpu=$(grep -m1 -o 'machine = [0-9A-Fa-f]*' /proc/cpuinfo | sed 's/machine = //')
cpu=$(echo "${cpu:-unknown}" | tr -s ' \t' '__')
say "ZCOMPUTE-GUEST-READY arch=$(uname -m) kernel=$(uname -r) cpu=$cpu"
# The watcher below starts from this very snapshot: a device plugged right after DEVICES-END
# (a test does that at once) is reported as added, however long the rest of the init takes.
old_block=$(block_list); old_nic=$(nic_ids)
for dev in $old_block; do report_block "$dev"; done
for id in $old_nic; do report_nic "${id%:*}"; done
say "ZCOMPUTE-DEVICES-END"

if [ "$(arg zcompute.mode)" = "poweroff" ]; then
    sleep 1  # the s390x line-mode console flushes on a timer
    poweroff -f
fi

tty=$(arg zcompute.tty)
if [ -n "$tty" ] && [ -e "/dev/$tty" ]; then
    (while true; do setsid sh -c "exec sh -i </dev/$tty >/dev/$tty 2>&1"; sleep 0.2; done) &
fi

# Report hotplugged and removed devices so tests can see what the guest sees.
while true; do
    sleep 0.2
    new_block=$(block_list); new_nic=$(nic_ids)
    for dev in $new_block; do echo "$old_block" | grep -qx "$dev" || report_block "$dev" "added "; done
    for dev in $old_block; do echo "$new_block" | grep -qx "$dev" || say "ZCOMPUTE-BLOCK removed name=$dev"; done
    for id in $old_nic; do echo "$new_nic" | grep -qx "$id" || say "ZCOMPUTE-NIC removed name=${id%:*}"; done
    for id in $new_nic; do echo "$old_nic" | grep -qx "$id" || report_nic "${id%:*}" "added "; done
    old_block=$new_block; old_nic=$new_nic
done
