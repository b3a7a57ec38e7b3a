"""What the host offers: kernel version, BTF, privileges, tracefs."""
