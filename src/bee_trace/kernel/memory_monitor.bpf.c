// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * memory_monitor: one process reading or writing another's memory or
 * registers, through ptrace, process_vm_readv/writev or /proc/<pid>/mem.
 *
 * Syscall tracepoints again: the entry side decides (watched kind, not the
 * caller itself, caller not allowed) and, with enforcement, sends SIGKILL
 * to the caller before the call runs; the exit side adds the result. Without
 * BPF LSM nothing here can make the call itself fail: the kill lands when
 * the caller returns to user space, after the kernel did the work.
 */
#include "common.bpf.h"

#define SIGKILL		 9
#define PROC_SUPER_MAGIC 0x9fa0
#define O_ACCMODE	 00000003

/* ptrace requests that attach to the target or touch its memory or registers */
#define PTRACE_PEEKTEXT		1
#define PTRACE_PEEKDATA		2
#define PTRACE_PEEKUSR		3
#define PTRACE_POKETEXT		4
#define PTRACE_POKEDATA		5
#define PTRACE_POKEUSR		6
#define PTRACE_GETREGS		12
#define PTRACE_SETREGS		13
#define PTRACE_GETFPREGS	14
#define PTRACE_SETFPREGS	15
#define PTRACE_ATTACH		16
#define PTRACE_GETFPXREGS	18
#define PTRACE_SETFPXREGS	19
#define PTRACE_GETREGSET	0x4204
#define PTRACE_SETREGSET	0x4205
#define PTRACE_SEIZE		0x4206
#define PTRACE_ARCH_PRCTL	30
#define PTRACE_SET_SYSCALL_INFO 0x4212

const volatile struct bt_mem_config cfg = {};

/* keeps the record types in the object's BTF for the user-space check */
const struct bt_mem_event *bt_mem_event_btf __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct bt_mem_event);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[BT_COMM_LEN]);
	__type(value, __u8);
} allowed_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct bt_exe_id);
	__type(value, __u8);
} allowed_exes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bt_mem_event);
} scratch_map SEC(".maps");

static __always_inline bool watched_ptrace_request(__u64 req)
{
	switch (req) {
	case PTRACE_PEEKTEXT:
	case PTRACE_PEEKDATA:
	case PTRACE_PEEKUSR:
	case PTRACE_POKETEXT:
	case PTRACE_POKEDATA:
	case PTRACE_POKEUSR:
	case PTRACE_GETREGS:
	case PTRACE_SETREGS:
	case PTRACE_GETFPREGS:
	case PTRACE_SETFPREGS:
	case PTRACE_ATTACH:
	case PTRACE_GETFPXREGS:
	case PTRACE_SETFPXREGS:
	case PTRACE_GETREGSET:
	case PTRACE_SETREGSET:
	case PTRACE_SEIZE:
	case PTRACE_ARCH_PRCTL:
	case PTRACE_SET_SYSCALL_INFO:
		return true;
	}
	return false;
}

/* is the calling process on the allow list, by comm or by executable? */
static __always_inline bool caller_allowed(struct task_struct *task)
{
	char comm[BT_COMM_LEN] = {};
	struct bt_exe_id exe = {};
	struct file *exe_file;

	bpf_get_current_comm(comm, sizeof(comm));
	if (bpf_map_lookup_elem(&allowed_comms, comm))
		return true;
	exe_file = BPF_CORE_READ(task, mm, exe_file);
	if (!exe_file)
		return false;
	exe.ino = BPF_CORE_READ(exe_file, f_inode, i_ino);
	exe.dev = BPF_CORE_READ(exe_file, f_inode, i_sb, s_dev);
	return bpf_map_lookup_elem(&allowed_exes, &exe) != NULL;
}

/* the number a pid has in the pid namespace it was created in (what getpid sees) */
static __always_inline __u32 pid_nr_in_own_ns(struct pid *pid)
{
	__u32 level = BPF_CORE_READ(pid, level);
	struct upid upid = {};
	void *at;

	at = (void *)pid + bpf_core_field_offset(struct pid, numbers) +
	     (level & 31) * bpf_core_type_size(struct upid);
	bpf_probe_read_kernel(&upid, sizeof(upid), at);
	return upid.nr;
}

/*
 * Is a pid, as the caller named it (in the caller's pid namespace), the
 * caller itself? The caller's own tgid and tid in its namespace say.
 */
static __always_inline bool names_self(struct task_struct *task, __u32 target)
{
	return target == pid_nr_in_own_ns(BPF_CORE_READ(task, group_leader, thread_pid)) ||
	       target == pid_nr_in_own_ns(BPF_CORE_READ(task, thread_pid));
}

/* decide on an access: the event to report, in scratch memory, or NULL */
static __always_inline struct bt_mem_event *judge(struct task_struct *task, __u32 target, __u8 op,
						  __u64 request)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct bt_mem_event *ev;
	__u32 zero = 0;

	/* bee-trace never reports itself */
	if (target == 0 || id >> 32 == cfg.self_tgid)
		return NULL;
	if (caller_allowed(task))
		return NULL;
	ev = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!ev)
		return NULL;
	__builtin_memset(ev, 0, sizeof(*ev));
	fill_header(&ev->hdr, task, BT_EVENT_MEMORY);
	ev->target_pid = target;
	ev->operation = op;
	ev->request = request;
	if (cfg.enforce) {
		/* lands when the caller returns to user space, from entry or exit alike */
		bpf_send_signal(SIGKILL);
		ev->killed = 1;
	}
	return ev;
}

static __always_inline void send(void *ctx, struct bt_mem_event *ev, __s64 ret)
{
	ev->result = (__s32)ret;
	ev->hdr.size = sizeof(*ev);
	emit(ctx, ev, sizeof(*ev));
}

/* entry side (kernels without bpf_task_pt_regs): keep the event for the exit */
static __always_inline void keep(struct bt_mem_event *ev)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (ev && bpf_map_update_elem(&pending, &id, ev, BPF_ANY))
		count(BT_CNT_DROP_PENDING_FULL);
}

static __always_inline void send_pending(void *ctx, __s64 ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct bt_mem_event *ev = bpf_map_lookup_elem(&pending, &id);

	if (!ev)
		return;
	send(ctx, ev, ret);
	bpf_map_delete_elem(&pending, &id);
}

/* ptrace and process_vm_*: the target is a pid in the caller's namespace */
static __always_inline struct bt_mem_event *judge_named(__u32 target, __u8 op, __u64 request)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	/* a process on itself is not an alert */
	if (names_self(task, target))
		return NULL;
	return judge(task, target, op, request);
}

static __always_inline struct bt_mem_event *judge_ptrace(__u64 request, __u64 pid)
{
	if (cfg.watch_ptrace && watched_ptrace_request(request))
		return judge_named((__u32)pid, BT_MEM_PTRACE, request);
	return NULL;
}

static __always_inline struct bt_mem_event *judge_vm(__u64 pid, __u8 op)
{
	return cfg.watch_process_vm ? judge_named((__u32)pid, op, 0) : NULL;
}

/*
 * The first two arguments of the call now ending, from the registers the
 * task entered the kernel with (cfg.args_at_exit: Linux 5.15 and later).
 */
static __always_inline void args_at_exit(__u64 *a0, __u64 *a1)
{
	struct pt_regs *regs = syscall_regs();

	*a0 = SYSCALL_ARG1(regs);
	*a1 = SYSCALL_ARG2(regs);
}

/*
 * Where the kernel has bpf_task_pt_regs, the exit programs judge and report
 * on their own, so nothing runs at syscall entry: an entry program, even one
 * that is never hit, makes every system call on the host slower. Elsewhere
 * the entry programs judge and keep the event, and the exit adds the result.
 */

SEC("tracepoint/syscalls/sys_enter_ptrace")
int enter_ptrace(struct syscall_enter_ctx *ctx)
{
	keep(judge_ptrace(ctx->args[0], ctx->args[1]));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int exit_ptrace(struct syscall_exit_ctx *ctx)
{
	struct bt_mem_event *ev;
	__u64 a0, a1;

	if (!cfg.args_at_exit) {
		send_pending(ctx, ctx->ret);
		return 0;
	}
	args_at_exit(&a0, &a1);
	ev = judge_ptrace(a0, a1);
	if (ev)
		send(ctx, ev, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_process_vm_readv")
int enter_vm_readv(struct syscall_enter_ctx *ctx)
{
	keep(judge_vm(ctx->args[0], BT_MEM_VM_READV));
	return 0;
}

static __always_inline void exit_vm(struct syscall_exit_ctx *ctx, __u8 op)
{
	struct bt_mem_event *ev;
	__u64 a0, a1;

	if (!cfg.args_at_exit) {
		send_pending(ctx, ctx->ret);
		return;
	}
	args_at_exit(&a0, &a1);
	ev = judge_vm(a0, op);
	if (ev)
		send(ctx, ev, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_process_vm_readv")
int exit_vm_readv(struct syscall_exit_ctx *ctx)
{
	exit_vm(ctx, BT_MEM_VM_READV);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_process_vm_writev")
int enter_vm_writev(struct syscall_enter_ctx *ctx)
{
	keep(judge_vm(ctx->args[0], BT_MEM_VM_WRITEV));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_process_vm_writev")
int exit_vm_writev(struct syscall_exit_ctx *ctx)
{
	exit_vm(ctx, BT_MEM_VM_WRITEV);
	return 0;
}

/*
 * /proc/<pid>/mem: no entry side. The exit side finds the opened file, checks
 * it is "mem" on procfs under a numeric directory, and takes the open flags
 * from the file itself. A failed open names no file, so it cannot be told
 * apart here.
 */

/*
 * The process a procfs inode belongs to, as a global tgid: the inode holds
 * the struct pid, whose first task is the thread it names. This is exact
 * whatever pid namespace the proc mount or the caller is in.
 */
static __always_inline __u32 proc_inode_tgid(struct inode *inode)
{
	struct proc_inode *pi = (void *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode);
	struct pid *pid = BPF_CORE_READ(pi, pid);
	struct hlist_node *first;
	struct task_struct *task;

	if (!pid)
		return 0;
	first = BPF_CORE_READ(pid, tasks[0].first);
	if (!first)
		return 0;
	task = (void *)first - bpf_core_field_offset(struct task_struct, pid_links);
	return BPF_CORE_READ(task, tgid);
}

/* the process a /proc/<pid>/mem file belongs to (global tgid), or 0 */
static __always_inline __u32 proc_mem_target(struct file *f)
{
	struct dentry *dentry = BPF_CORE_READ(f, f_path.dentry);
	struct qstr name = BPF_CORE_READ(dentry, d_name);
	struct qstr parent;
	char buf[12] = {};
	__u32 pid = 0;
	int i;

	/* the name first: it rules out nearly every open in one read */
	if (name.len != 3 || BPF_CORE_READ(f, f_inode, i_sb, s_magic) != PROC_SUPER_MAGIC)
		return 0;
	if (bpf_probe_read_kernel(buf, 4, name.name) || buf[0] != 'm' || buf[1] != 'e' ||
	    buf[2] != 'm')
		return 0;
	parent = BPF_CORE_READ(dentry, d_parent, d_name);
	if (parent.len == 0 || parent.len > 10)
		return 0;
	__builtin_memset(buf, 0, sizeof(buf));
	if (bpf_probe_read_kernel(buf, parent.len & 15, parent.name))
		return 0;
	for (i = 0; i < 10; i++) {
		if (buf[i] == '\0')
			break;
		if (buf[i] < '0' || buf[i] > '9')
			return 0;
		pid = pid * 10 + (buf[i] - '0');
	}
	if (!pid)
		return 0;
	return proc_inode_tgid(BPF_CORE_READ(f, f_inode));
}

/*
 * One program for the exit of every open (see probes/memory.py): loaded once,
 * attached to sys_exit_openat by its section and to the others by the probe.
 */
SEC("tracepoint/syscalls/sys_exit_openat")
int mem_exit_openat(struct syscall_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct bt_mem_event *ev;
	struct task_struct *task;
	struct file *f;
	__u32 target;

	if (!cfg.watch_proc_mem || ctx->ret < 0 || id >> 32 == cfg.self_tgid)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	f = file_of_fd(task, (__u32)ctx->ret);
	if (!f)
		return 0;
	target = proc_mem_target(f);
	/* a process on its own memory, through any of its threads, is not an alert */
	if (!target || target == id >> 32)
		return 0;
	ev = judge(task, target, BT_MEM_PROC_MEM, BPF_CORE_READ(f, f_flags));
	if (ev)
		send(ctx, ev, ctx->ret);
	return 0;
}
