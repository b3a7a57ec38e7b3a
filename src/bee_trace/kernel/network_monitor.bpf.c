// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * network_monitor: outbound connects, and UDP datagrams sent to an explicit
 * destination, matched against network.blocked_ips in LPM tries.
 *
 * Reporting uses syscall tracepoints. Where the kernel has bpf_task_pt_regs
 * (5.15) the exit programs alone do it: they read the destination from the
 * caller's sockaddr and report it with the result, and nothing runs at
 * syscall entry, which would slow every system call on the host. Elsewhere
 * the entry keeps the destination and the exit adds the result. Either way
 * the sockaddr is the caller's memory, which a second thread can rewrite or
 * unmap while the call runs: so a connect that went ahead is named from its
 * socket, and a destination that no longer reads as one, on a call the
 * kernel went ahead with, is counted as a drop (see settle). Denying uses cgroup
 * sock_addr hooks on the root of the cgroup v2 tree, which run before the
 * kernel acts on the address and can refuse it with EPERM; they are loaded
 * only when enforcement is on.
 */
#include "common.bpf.h"

#define AF_INET		2
#define AF_INET6	10
#define AF_UNSPEC	0
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17
#define IPPROTO_UDPLITE 136
#define EFAULT		14
#define EINVAL		22
#define EAFNOSUPPORT	97
#define EINPROGRESS	115

const volatile struct bt_net_config cfg = {};

/* keeps the record types in the object's BTF for the user-space check */
const struct bt_net_event *bt_net_event_btf __attribute__((unused));

struct pending_net {
	struct bt_net_event ev;
	struct sock *sk;
	/* the destination could not be read: the call's result decides */
	__u32 undecided;
	__u32 _pad;
};

struct sockaddr_in_min {
	__u16 family;
	__u16 port;
	__u8 addr[4];
};

struct sockaddr_in6_min {
	__u16 family;
	__u16 port;
	__u32 flowinfo;
	__u8 addr[16];
};

struct user_msghdr_min {
	void *msg_name;
	int msg_namelen;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bt_lpm_v4);
	__type(value, __u32);
} blocked_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bt_lpm_v6);
	__type(value, __u32);
} blocked_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct pending_net);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct bt_udp_key);
	__type(value, struct bt_udp_value);
} udp_agg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending_net);
} scratch_map SEC(".maps");

/* ::ffff:a.b.c.d */
static __always_inline bool is_v4_mapped(const __u8 *a)
{
	__u32 w[3];

	__builtin_memcpy(w, a, sizeof(w));
	return w[0] == 0 && w[1] == 0 && w[2] == __builtin_bswap32(0x0000ffff);
}

/* which blocked_ips entry, if any, covers this destination */
static __always_inline bool lookup_blocked(struct bt_net_event *ev)
{
	__u32 *rule;

	if (ev->family == AF_INET) {
		struct bt_lpm_v4 key = {.prefixlen = 32};

		__builtin_memcpy(key.addr, ev->daddr, 4);
		rule = bpf_map_lookup_elem(&blocked_v4, &key);
	} else {
		struct bt_lpm_v6 key = {.prefixlen = 128};

		__builtin_memcpy(key.addr, ev->daddr, 16);
		rule = bpf_map_lookup_elem(&blocked_v6, &key);
	}
	if (!rule)
		return false;
	ev->rule = *rule;
	return true;
}

/* the socket behind a descriptor, NULL when it is not a socket */
static __always_inline struct sock *socket_of(struct task_struct *task, __u32 fd)
{
	struct file *f = file_of_fd(task, fd);
	struct socket *sock;

	if (!f)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock || BPF_CORE_READ(sock, file) != f)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

static __always_inline bool is_datagram(__u8 protocol)
{
	return protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE;
}

enum sockaddr_read {
	SOCKADDR_OK,
	/* reads as no destination: none at all, too short, AF_UNSPEC on IPv6 */
	SOCKADDR_NONE,
	/*
	 * a family the socket cannot take, or memory that cannot be read: the
	 * kernel refused it, or the caller's memory changed under the call
	 */
	SOCKADDR_UNKNOWN,
};

/* read an IPv4 or IPv6 destination from the caller's sockaddr */
static __always_inline enum sockaddr_read read_sockaddr(struct bt_net_event *ev, const void *uaddr,
							__u32 len, __u16 sk_family)
{
	struct sockaddr_in6_min sa6 = {};
	__u16 family = 0;

	if (!uaddr)
		return SOCKADDR_NONE;
	if (bpf_probe_read_user(&family, sizeof(family), uaddr))
		return SOCKADDR_UNKNOWN;
	/* an IPv4 socket takes AF_UNSPEC as AF_INET (udp_sendmsg, __inet_stream_connect) */
	if (family == AF_INET || (family == AF_UNSPEC && sk_family == AF_INET)) {
		struct sockaddr_in_min sa = {};

		if (len < sizeof(sa))
			return SOCKADDR_NONE;
		if (bpf_probe_read_user(&sa, sizeof(sa), uaddr))
			return SOCKADDR_UNKNOWN;
		ev->family = AF_INET;
		ev->dport = __builtin_bswap16(sa.port);
		__builtin_memcpy(ev->daddr, sa.addr, 4);
		return SOCKADDR_OK;
	}
	if (family == AF_UNSPEC)
		return SOCKADDR_NONE;
	if (family != AF_INET6)
		return SOCKADDR_UNKNOWN;
	if (len < sizeof(sa6))
		return SOCKADDR_NONE;
	if (bpf_probe_read_user(&sa6, sizeof(sa6), uaddr))
		return SOCKADDR_UNKNOWN;
	ev->dport = __builtin_bswap16(sa6.port);
	if (is_v4_mapped(sa6.addr)) {
		ev->family = AF_INET;
		__builtin_memcpy(ev->daddr, &sa6.addr[12], 4);
	} else {
		ev->family = AF_INET6;
		__builtin_memcpy(ev->daddr, sa6.addr, 16);
	}
	return SOCKADDR_OK;
}

/*
 * The peer a connected socket keeps: where a connect that went ahead (0, or
 * EINPROGRESS) is going, whatever the caller's memory says by now.
 */
static __always_inline bool read_peer(struct bt_net_event *ev, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__u64 any[2] = {};

	ev->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__builtin_memset(ev->daddr, 0, sizeof(ev->daddr));
	if (family == AF_INET) {
		__u32 addr = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		ev->family = AF_INET;
		__builtin_memcpy(ev->daddr, &addr, 4);
		/* no peer at all: the connect was a disconnect (AF_UNSPEC) */
		return addr != 0 || ev->dport != 0;
	}
	if (family != AF_INET6 ||
	    bpf_probe_read_kernel(ev->daddr, 16,
				  (void *)sk +
				      bpf_core_field_offset(struct sock_common, skc_v6_daddr)))
		return false;
	__builtin_memcpy(any, ev->daddr, 16);
	if (!any[0] && !any[1] && ev->dport == 0)
		return false;
	ev->family = AF_INET6;
	if (is_v4_mapped(ev->daddr)) {
		ev->family = AF_INET;
		__builtin_memcpy(ev->daddr, &ev->daddr[12], 4);
		__builtin_memset(&ev->daddr[4], 0, 12);
	}
	return true;
}

/* is the socket connected to a peer? */
static __always_inline bool has_peer(struct sock *sk)
{
	struct bt_net_event peer = {};

	return read_peer(&peer, sk);
}

/*
 * Build the event for a call on socket fd to the destination at uaddr, in
 * scratch memory; NULL when it is not one to report. The destination may be
 * left undecided (see settle): the caller's memory is the caller's, and
 * another thread can unmap or rewrite it while the call runs.
 */
static __always_inline struct pending_net *describe(__u32 fd, const void *uaddr, __u32 len,
						    __u8 syscall)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct pending_net *p;
	enum sockaddr_read got;
	struct sock *sk;
	__u32 zero = 0;

	if (id >> 32 == cfg.self_tgid)
		return NULL;
	p = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!p)
		return NULL;
	__builtin_memset(p, 0, sizeof(*p));

	task = (struct task_struct *)bpf_get_current_task();
	sk = socket_of(task, fd);
	if (!sk)
		return NULL;
	p->ev.protocol = (__u8)BPF_CORE_READ(sk, sk_protocol);
	if (p->ev.protocol != IPPROTO_TCP && !is_datagram(p->ev.protocol))
		return NULL;
	/* only datagrams carry an explicit destination worth reporting per send */
	if (syscall != BT_NET_CONNECT && !is_datagram(p->ev.protocol))
		return NULL;
	got = read_sockaddr(&p->ev, uaddr, len, BPF_CORE_READ(sk, __sk_common.skc_family));
	/*
	 * a send that names no destination goes to the socket's peer: not an
	 * explicit destination, not an event. On a socket with no peer the
	 * kernel had one, whatever the caller's memory says now: settle decides.
	 */
	if (got == SOCKADDR_NONE && syscall != BT_NET_CONNECT && has_peer(sk))
		return NULL;
	p->undecided = got != SOCKADDR_OK;
	p->sk = sk;
	p->ev.syscall = syscall;
	fill_header(&p->ev.hdr, task, BT_EVENT_NETWORK);
	return p;
}

/* did the kernel take the call's destination, judging by the call's result? */
static __always_inline bool destination_taken(__u8 syscall, __s64 ret)
{
	if (syscall != BT_NET_CONNECT)
		return ret >= 0;
	return ret != -EAFNOSUPPORT && ret != -EINVAL && ret != -EFAULT;
}

/*
 * At the call's exit, settle the destination; false when there is no event.
 * A connect that went ahead (0, or EINPROGRESS) is named from its socket,
 * which holds what the kernel connects to whatever the caller's memory says
 * by now. An undecided destination the kernel took is a counted drop.
 */
static __always_inline bool settle(struct pending_net *p, __s64 ret)
{
	if (p->ev.syscall == BT_NET_CONNECT && (ret == 0 || ret == -EINPROGRESS)) {
		if (!read_peer(&p->ev, p->sk))
			return false;
		p->undecided = 0;
	}
	if (p->undecided) {
		if (destination_taken(p->ev.syscall, ret))
			count(BT_CNT_DROP_UNREADABLE);
		return false;
	}
	p->ev.blocked = lookup_blocked(&p->ev);
	return true;
}

/* entry side (kernels without bpf_task_pt_regs): keep the event for the exit */
static __always_inline int remember(__u32 fd, const void *uaddr, __u32 len, __u8 syscall)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending_net *p = describe(fd, uaddr, len, syscall);

	if (p && bpf_map_update_elem(&pending, &id, p, BPF_ANY))
		count(BT_CNT_DROP_PENDING_FULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct syscall_enter_ctx *ctx)
{
	return remember(ctx->args[0], (void *)ctx->args[1], ctx->args[2], BT_NET_CONNECT);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct syscall_enter_ctx *ctx)
{
	return remember(ctx->args[0], (void *)ctx->args[4], ctx->args[5], BT_NET_SENDTO);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct syscall_enter_ctx *ctx)
{
	struct user_msghdr_min msg = {};

	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)ctx->args[1]))
		return 0;
	return remember(ctx->args[0], msg.msg_name, msg.msg_namelen, BT_NET_SENDMSG);
}

static __always_inline void send(void *ctx, struct bt_net_event *ev)
{
	ev->hdr.size = sizeof(*ev);
	emit(ctx, ev, sizeof(*ev));
}

/*
 * UDP sends to one destination are counted in udp_agg and reported at most
 * once per window; each report carries the running total so user space can
 * tell how many sends it stands for, and user space reports what is left
 * when a window closes without a further send.
 */
static __always_inline bool aggregate(struct bt_net_event *ev)
{
	struct bt_udp_key key = {};
	struct bt_udp_value fresh = {}, *val;
	__u64 now = now_ns();

	key.tgid = ev->hdr.pid;
	key.result = ev->result;
	key.uid = ev->hdr.uid;
	key.family = ev->family;
	key.dport = ev->dport;
	key.syscall = ev->syscall;
	key.protocol = ev->protocol;
	__builtin_memcpy(key.daddr, ev->daddr, 16);
	__builtin_memcpy(key.comm, ev->hdr.comm, sizeof(key.comm));

	val = bpf_map_lookup_elem(&udp_agg, &key);
	if (!val) {
		fresh.total = 1;
		fresh.last_emit_ns = now;
		if (bpf_map_update_elem(&udp_agg, &key, &fresh, BPF_NOEXIST)) {
			/* table full, or another thread won the race: send on its own */
			count(BT_CNT_UDP_UNAGGREGATED);
			ev->total = 0;
			return false;
		}
		ev->total = 1;
		return false;
	}
	/*
	 * add without fetching: the fetch form (BPF_FETCH) needs 5.12. A total
	 * read after another thread's add is still right: user space counts
	 * each send once, from whichever event first carries a total past it.
	 */
	__sync_fetch_and_add(&val->total, 1);
	ev->total = val->total;
	if (now - val->last_emit_ns < cfg.udp_window_ns)
		return true;
	val->last_emit_ns = now;
	return false;
}

/* settle, add the result, then report the event or count it into its aggregate */
static __always_inline void complete(struct syscall_exit_ctx *ctx, struct pending_net *p)
{
	if (!settle(p, ctx->ret))
		return;
	p->ev.result = ctx->ret < 0 ? (__s32)ctx->ret : 0;
	if (is_datagram(p->ev.protocol) && p->ev.syscall != BT_NET_CONNECT) {
		if (!aggregate(&p->ev))
			send(ctx, &p->ev);
	} else {
		send(ctx, &p->ev);
	}
}

static __always_inline int finish(struct syscall_exit_ctx *ctx, __u8 syscall)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct user_msghdr_min msg = {};
	struct pt_regs *regs;
	struct pending_net *p;
	__u64 fd, uaddr, len;

	if (!cfg.args_at_exit) {
		p = bpf_map_lookup_elem(&pending, &id);
		if (!p)
			return 0;
		complete(ctx, p);
		bpf_map_delete_elem(&pending, &id);
		return 0;
	}

	/* the arguments, from the registers the caller entered the kernel with */
	regs = syscall_regs();
	fd = SYSCALL_ARG1(regs);
	if (syscall == BT_NET_CONNECT) {
		uaddr = SYSCALL_ARG2(regs);
		len = SYSCALL_ARG3(regs);
	} else if (syscall == BT_NET_SENDTO) {
		uaddr = SYSCALL_ARG5(regs);
		len = SYSCALL_ARG6(regs);
	} else {
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)SYSCALL_ARG2(regs)))
			return 0;
		uaddr = (__u64)msg.msg_name;
		len = (__u64)msg.msg_namelen;
	}
	p = describe(fd, (void *)uaddr, len, syscall);
	if (p)
		complete(ctx, p);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct syscall_exit_ctx *ctx)
{
	return finish(ctx, BT_NET_CONNECT);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct syscall_exit_ctx *ctx)
{
	return finish(ctx, BT_NET_SENDTO);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct syscall_exit_ctx *ctx)
{
	return finish(ctx, BT_NET_SENDMSG);
}

/* enforcement: 0 refuses the address (the caller gets EPERM), 1 lets it pass */

static __always_inline int allow_v4(__u32 ip4_be)
{
	struct bt_lpm_v4 key = {.prefixlen = 32};

	__builtin_memcpy(key.addr, &ip4_be, 4);
	return bpf_map_lookup_elem(&blocked_v4, &key) ? 0 : 1;
}

static __always_inline int allow_v6(struct bpf_sock_addr *ctx)
{
	struct bt_lpm_v6 key = {.prefixlen = 128};
	__u32 ip6[4];

	ip6[0] = ctx->user_ip6[0];
	ip6[1] = ctx->user_ip6[1];
	ip6[2] = ctx->user_ip6[2];
	ip6[3] = ctx->user_ip6[3];
	__builtin_memcpy(key.addr, ip6, 16);
	if (is_v4_mapped(key.addr))
		return allow_v4(ip6[3]);
	return bpf_map_lookup_elem(&blocked_v6, &key) ? 0 : 1;
}

SEC("cgroup/connect4")
int deny_connect4(struct bpf_sock_addr *ctx)
{
	return allow_v4(ctx->user_ip4);
}

SEC("cgroup/connect6")
int deny_connect6(struct bpf_sock_addr *ctx)
{
	return allow_v6(ctx);
}

SEC("cgroup/sendmsg4")
int deny_sendmsg4(struct bpf_sock_addr *ctx)
{
	return allow_v4(ctx->user_ip4);
}

SEC("cgroup/sendmsg6")
int deny_sendmsg6(struct bpf_sock_addr *ctx)
{
	return allow_v6(ctx);
}

/*
 * UDP-Lite has no pre-connect step, so the connect hooks never run for it
 * and a connected UDP-Lite socket sends past the sendmsg hooks too: with
 * enforcement on, UDP-Lite sockets cannot be created at all.
 */
SEC("cgroup/sock_create")
int deny_udplite(struct bpf_sock *ctx)
{
	return ctx->protocol == IPPROTO_UDPLITE ? 0 : 1;
}
