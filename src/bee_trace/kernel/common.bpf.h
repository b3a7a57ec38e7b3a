/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * What every bee-trace kernel program shares: the output buffer and counters
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

#ifdef BT_PERFBUF
/*
 * the fallback for kernels without BPF_MAP_TYPE_RINGBUF (before 5.8): one
 * perf buffer per CPU; libbpf sizes the array to the CPUs, user space the
 * buffers when it opens them
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");
#else
/* user space sizes it before load */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");
#endif

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

/*
 * Send one record to user space through whichever buffer this object was
 * built with. ctx is the program's context: bpf_perf_event_output needs it,
 * the ring buffer does not. A full buffer counts as a drop.
 */
static __always_inline void emit(void *ctx, void *data, __u64 size)
{
	long err;

#ifdef BT_PERFBUF
	err = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, data, size);
#else
	err = bpf_ringbuf_output(&events, data, size, 0);
#endif
	if (err)
		count(BT_CNT_DROP_RINGBUF);
	else
		count(BT_CNT_EMITTED);
}

/*
 * Event time. bpf_ktime_get_boot_ns arrived in 5.8, with the ring buffer; the
 * perf-buffer build serves older kernels, so it reads CLOCK_MONOTONIC and
 * user space converts from that clock instead.
 */
static __always_inline __u64 now_ns(void)
{
#ifdef BT_PERFBUF
	return bpf_ktime_get_ns();
#else
	return bpf_ktime_get_boot_ns();
#endif
}

static __always_inline void fill_header(struct bt_event_header *hdr, struct task_struct *task,
					__u16 kind)
{
	__u64 id = bpf_get_current_pid_tgid();

	hdr->kind = kind;
	hdr->ts_boot_ns = now_ns();
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

/*
 * The registers the current task entered the kernel with, which hold the
 * arguments of the system call now ending (SYSCALL_ARGn in core_types.h).
 * Only where the kernel has bpf_task_pt_regs (5.15): each object's
 * cfg.args_at_exit says so, and code that calls this must be behind it.
 */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
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
