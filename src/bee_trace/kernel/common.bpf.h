/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * What every bee-trace kernel program shares: the ring buffer and counters
 * each object owns, the common record header, and small helpers.
 */
#ifndef BEE_TRACE_COMMON_BPF_H
#define BEE_TRACE_COMMON_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "core_types.h"
#include "bee_trace.h"

/*
 * clang may drop an AND whose result it proves in range, but the verifier
 * tracks the 64-bit register and needs to see the bound: keep it in asm.
 */
#define BOUND(v, mask) asm volatile("%0 &= " #mask : "+r"(v))

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* user space sizes it before load */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BT_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *val = bpf_map_lookup_elem(&counters, &which);

	if (val)
		*val += 1;
}

static __always_inline void fill_header(struct bt_event_header *hdr, struct task_struct *task,
					__u16 kind)
{
	__u64 id = bpf_get_current_pid_tgid();

	hdr->kind = kind;
	hdr->ts_boot_ns = bpf_ktime_get_boot_ns();
	hdr->pid = id >> 32;
	hdr->tid = (__u32)id;
	hdr->ppid = BPF_CORE_READ(task, real_parent, tgid);
	hdr->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(hdr->comm, sizeof(hdr->comm));
}

static __always_inline struct file *file_of_fd(struct task_struct *task, __u32 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* syscall tracepoint contexts, as the format files under tracefs lay them out */
struct syscall_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__u64 args[6];
};

struct syscall_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__s64 ret;
};

#endif /* BEE_TRACE_COMMON_BPF_H */
