#!/bin/busybox sh
# The guest's /init: mount what the probes need, run the smoke test, power off.
# Everything it prints goes to the serial console, which run.py reads.

/bin/busybox --install -s /bin
export PATH=/bin

mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tracefs tracefs /sys/kernel/tracing
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# a mount of its own, so that file_monitor's path walk crosses a mount point
mount -t tmpfs tmpfs /tmp

# loopback only: the guest has no network device
ip link set lo up

echo "BOOTED kernel=$(uname -r)"
/bin/bee-trace-smoke /objects
echo "EXIT kernel=$(uname -r) status=$?"
poweroff -f
