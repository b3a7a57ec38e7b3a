/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Records shared by the kernel programs and user space: the one declaration.
 *
 * Fixed-width fields, explicit padding, a common header first. User space
 * mirrors these with ctypes and checks the mirror against the BTF that clang
 * emits for this header into every object, at load time and in the tests, so
 * the two sides cannot drift apart silently.
 */
#ifndef BEE_TRACE_H
#define BEE_TRACE_H

#include <linux/types.h>

#define BT_COMM_LEN	  16
#define BT_PATH_MAX	  4096
#define BT_FILTER_KEY_MAX 60

enum bt_event_kind {
	BT_EVENT_FILE_ACCESS = 1,
	BT_EVENT_NETWORK = 2,
	BT_EVENT_MEMORY = 3,
};

/* every record starts with this header */
struct bt_event_header {
	__u16 kind;
	__u16 size;
	__u32 _pad0;
	/* CLOCK_BOOTTIME; CLOCK_MONOTONIC in the perf-buffer build (see now_ns) */
	__u64 ts_boot_ns;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	char comm[BT_COMM_LEN];
};

enum bt_open_syscall {
	BT_SYS_OPEN = 1,
	BT_SYS_OPENAT = 2,
	BT_SYS_OPENAT2 = 3,
	BT_SYS_OPEN_BY_HANDLE_AT = 4,
};

enum bt_file_path_source {
	/* walked from the opened file's dentry: the real absolute path */
	BT_PATH_RESOLVED = 1,
	/* the name the caller passed; the open failed so there is no file */
	BT_PATH_AS_PASSED = 2,
	/* resolved, but deeper than the walk goes: leading components missing */
	BT_PATH_TRUNCATED = 3,
	/*
	 * reached through a bind mount of part of a file system: the path is
	 * relative to the root of the file system on device dev, and user space
	 * finds where that file system is mounted
	 */
	BT_PATH_FS_RELATIVE = 4,
};

/*
 * A file open that passed the kernel pre-filter. Only the first path_len
 * bytes of path (plus a NUL) are sent, so the record is variable-sized.
 */
struct bt_file_event {
	struct bt_event_header hdr;
	__s32 result;
	__u32 flags;
	__s32 dfd;
	/* the file system's device (kernel encoding), for BT_PATH_FS_RELATIVE */
	__u32 dev;
	__u16 syscall;
	__u16 path_len;
	__u8 path_source;
	__u8 _pad1[3];
	char path[BT_PATH_MAX];
};

/* what the pre-filter compares the opened file's names against */
enum bt_filter_kind {
	BT_FILTER_NAME = 1,
	BT_FILTER_SUFFIX = 2,
	BT_FILTER_PREFIX = 3,
	BT_FILTER_DIRNAME = 4,
	/*
	 * a name another probe wants to see opened (memory_monitor: "mem"):
	 * such opens are handed to the program in open_exit_chain
	 */
	BT_FILTER_HANDOFF = 5,
};

struct bt_filter_key {
	__u8 kind;
	__u8 len;
	__u8 _pad[2];
	char value[BT_FILTER_KEY_MAX];
};

enum bt_net_syscall {
	BT_NET_CONNECT = 1,
	BT_NET_SENDTO = 2,
	BT_NET_SENDMSG = 3,
};

/*
 * An outbound connect, or a UDP datagram with an explicit destination.
 * daddr holds 4 bytes for AF_INET (IPv4-mapped IPv6 destinations are turned
 * into AF_INET here) and 16 for AF_INET6, in network order.
 */
struct bt_net_event {
	struct bt_event_header hdr;
	__s32 result;
	/* index of the matching network.blocked_ips entry, when blocked */
	__u32 rule;
	/* UDP: sends to this destination by this process so far (see network.py) */
	__u64 total;
	__u16 family;
	__u16 dport;
	__u8 protocol;
	__u8 syscall;
	__u8 blocked;
	__u8 _pad0;
	__u8 daddr[16];
};

/* LPM trie keys for network.blocked_ips */
struct bt_lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct bt_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* UDP aggregation: one entry per process and destination */
struct bt_udp_key {
	__u32 tgid;
	__s32 result;
	/* a process that changes identity starts a new aggregate */
	__u32 uid;
	__u16 family;
	__u16 dport;
	__u8 syscall;
	__u8 protocol;
	__u8 _pad[6];
	__u8 daddr[16];
	char comm[BT_COMM_LEN];
};

struct bt_udp_value {
	__u64 total;
	__u64 last_emit_ns;
};

struct bt_net_config {
	__u32 self_tgid;
	__u8 enforce;
	/* the exit programs read the call's arguments (bpf_task_pt_regs, 5.15) */
	__u8 args_at_exit;
	__u8 _pad[2];
	/* UDP sends to one destination within this window share one event */
	__u64 udp_window_ns;
};

enum bt_mem_operation {
	BT_MEM_PTRACE = 1,
	BT_MEM_VM_READV = 2,
	BT_MEM_VM_WRITEV = 3,
	BT_MEM_PROC_MEM = 4,
};

/* one process reaching into another's memory or registers */
struct bt_mem_event {
	struct bt_event_header hdr;
	__s32 result;
	__u32 target_pid;
	/* ptrace request, or the open flags for proc_mem */
	__u64 request;
	__u8 operation;
	/* SIGKILL was sent to the accessor */
	__u8 killed;
	__u8 _pad[6];
};

/* an allowed accessor executable, by the identity of its file */
struct bt_exe_id {
	__u64 ino;
	__u32 dev;
	__u32 _pad;
};

struct bt_mem_config {
	__u32 self_tgid;
	__u8 enforce;
	__u8 watch_ptrace;
	__u8 watch_process_vm;
	__u8 watch_proc_mem;
	/* the exit programs read the call's arguments (bpf_task_pt_regs, 5.15) */
	__u8 args_at_exit;
	__u8 _pad[3];
};

/* per-CPU counters, indexed by this enum */
enum bt_counter {
	BT_CNT_EMITTED = 0,
	/* output buffer full (ring buffer, or perf buffer in the fallback) */
	BT_CNT_DROP_RINGBUF = 1,
	BT_CNT_DROP_PENDING_FULL = 2,
	/* not a loss: a UDP send sent on its own because the table was full */
	BT_CNT_UDP_UNAGGREGATED = 3,
	/*
	 * a call whose name or destination could not be read from the caller's
	 * memory at its exit (another thread unmapped it meanwhile): not reported
	 */
	BT_CNT_DROP_UNREADABLE = 4,
	BT_CNT_MAX = 5,
};

/*
 * The file probe's first-stage filter: a bit set over signatures of name
 * endings (and beginnings, and parent directory endings), so that an open of
 * an unwatched file costs a few loads and no map lookup. A signature covers
 * the last (or first) 1 to BT_SIG_SPAN bytes of a name; see sig_hit() in
 * file_monitor.bpf.c and policy/signatures.py, which compute it alike.
 */
#define BT_SIG_SPAN  8
#define BT_SIG_BITS  16
#define BT_SIG_WORDS ((1 << BT_SIG_BITS) / 64)

enum bt_sig_tag {
	/* the file's name ends with these bytes (SUFFIX keys), one test per length */
	BT_SIG_TAIL = 0,
	/* the file's name starts with these bytes (PREFIX keys), one test per length */
	BT_SIG_HEAD = 1,
	/* the parent directory's name is these bytes, or ends so if longer (DIRNAME) */
	BT_SIG_PARENT = 2,
	/* the file's name is these bytes, or ends so if longer (NAME, HANDOFF) */
	BT_SIG_NAME = 3,
};

/* read-only configuration, set by user space before load */
struct bt_file_config {
	__u32 self_tgid;
	/*
	 * the kernel has bpf_task_pt_regs (5.15): the exit program reads the
	 * call's arguments from the task's registers and no entry program runs
	 */
	__u8 args_at_exit;
	/* the kernel has bpf_get_current_task_btf (5.11): direct loads */
	__u8 task_btf;
	__u8 has_dirname;
	/* opens of BT_FILTER_HANDOFF names go on to open_exit_chain */
	__u8 has_handoff;
	/* bit n set: a SUFFIX (resp. PREFIX) key of length n exists */
	__u64 suffix_lens;
	__u64 prefix_lens;
	/* bit n-1 set: signatures of n bytes exist, per enum bt_sig_tag */
	__u8 sig_lens[4];
	__u8 _pad1[4];
	__u64 sig_bits[BT_SIG_WORDS];
};

#endif /* BEE_TRACE_H */
