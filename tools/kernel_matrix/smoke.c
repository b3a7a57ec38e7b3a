// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bee-trace-smoke: load every bee-trace kernel program on the running kernel,
 * attach its tracepoints, and check that each probe reports what it should.
 *
 * Built statically, so it runs in a busybox initramfs as well as on the host.
 * It exercises the kernel side only (verifier, CO-RE relocation, attach, what
 * reaches the ring buffer); the Python user space is tested elsewhere. Output
 * is line based, for run.py:
 *
 *   PROBE  kernel=K probe=P load=ok|fail programs=N attached=M load_ms=T
 *   CHECK  kernel=K probe=P check=C pass|fail|skip detail...
 *   RESULT kernel=K probe=P pass|fail checks=X/Y
 *   DONE   kernel=K
 *
 * Matching assumes the initial pid namespace (the guest's init, or the host).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bee_trace.h"

#define MAX_RECORDS   512
#define MAX_LINKS     32
#define SMOKE_DIR     "/tmp/bee-trace-smoke"
#define WATCHED_NAME  "id_rsa"
#define BLOCKED_NET   "127.77.0.0"
#define BLOCKED_ADDR  "127.77.0.1"
#define BLOCKED_RULE  7
#define TS_SLACK_NS   (10ULL * 1000 * 1000 * 1000)
#define LOG_KEEP_SIZE (256 * 1024)
#define LOG_TAIL      40

/* what bee-trace asks each kernel (host/features.py), asked the same way here */
static bool task_btf, args_at_exit;

static void probe_features(void)
{
	task_btf = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_task_btf,
					   NULL) == 1;
	args_at_exit = task_btf && libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT,
							   BPF_FUNC_task_pt_regs, NULL) == 1;
}

/*
 * Mark name as a BT_FILTER_NAME key in the file probe's first stage, as
 * policy/signatures.py does: the whole name, or its last BT_SIG_SPAN bytes.
 */
static void add_name_signature(struct bt_file_config *cfg, const char *name)
{
	size_t len = strlen(name), n = len < BT_SIG_SPAN ? len : BT_SIG_SPAN;
	__u64 v = 0, h;

	memcpy(&v, name + len - n, n); /* little-endian, as on x86-64 and arm64 */
	h = ((v + (BT_SIG_NAME * 16 + n) * 0x100000001b3ULL) * 0x9e3779b97f4a7c15ULL) >>
	    (64 - BT_SIG_BITS);
	cfg->sig_bits[h >> 6] |= 1ULL << (h & 63);
	cfg->sig_lens[BT_SIG_NAME] |= 1U << (n - 1);
}

struct record {
	size_t size;
	union {
		struct bt_event_header hdr;
		struct bt_file_event file;
		struct bt_net_event net;
		struct bt_mem_event mem;
	};
};

struct probe {
	const char *name;
	struct bpf_object *obj;
	struct ring_buffer *rb;
	struct bpf_link *links[MAX_LINKS];
	int n_links;
	int n_programs;
	bool loaded;
	int checks;
	int passed;
	int n_records;
	struct record records[MAX_RECORDS];
};

static char kernel[65];
static char libbpf_log[LOG_KEEP_SIZE];
static size_t libbpf_log_len;
static volatile char secret[16] = "bee-trace-smoke";

/* keep libbpf's messages (the verifier log among them) for a failure report */
static int keep_libbpf_log(enum libbpf_print_level level, const char *fmt, va_list args)
{
	size_t room = sizeof(libbpf_log) - libbpf_log_len;
	int n;

	if (level == LIBBPF_DEBUG || room < 2)
		return 0;
	n = vsnprintf(libbpf_log + libbpf_log_len, room, fmt, args);
	if (n > 0)
		libbpf_log_len += (size_t)n < room ? (size_t)n : room - 1;
	return 0;
}

static void print_log_tail(const struct probe *p)
{
	int lines = 0;
	size_t i = libbpf_log_len;
	char *line;

	while (i > 0 && lines <= LOG_TAIL) {
		i--;
		if (libbpf_log[i] == '\n')
			lines++;
	}
	for (line = strtok(libbpf_log + i, "\n"); line; line = strtok(NULL, "\n"))
		printf("LOG kernel=%s probe=%s %s\n", kernel, p->name, line);
}

static void check(struct probe *p, const char *name, bool ok, const char *fmt, ...)
{
	va_list args;

	p->checks++;
	p->passed += ok;
	printf("CHECK kernel=%s probe=%s check=%s %s ", kernel, p->name, name,
	       ok ? "pass" : "fail");
	va_start(args, fmt);
	vprintf(fmt, args);
	va_end(args);
	printf("\n");
}

static void skip(struct probe *p, const char *name, const char *why)
{
	printf("CHECK kernel=%s probe=%s check=%s skip %s\n", kernel, p->name, name, why);
}

static int keep_record(void *ctx, void *data, size_t size)
{
	struct probe *p = ctx;
	struct record *r;

	if (p->n_records >= MAX_RECORDS)
		return 0;
	r = &p->records[p->n_records++];
	r->size = size < sizeof(r->file) ? size : sizeof(r->file);
	memcpy(&r->file, data, r->size);
	return 0;
}

/* forget what is in the ring buffer so far; the next action starts clean */
static void drain(struct probe *p)
{
	ring_buffer__consume(p->rb);
	p->n_records = 0;
}

static void collect(struct probe *p)
{
	ring_buffer__poll(p->rb, 50);
	ring_buffer__consume(p->rb);
}

static __u64 boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/* the common header: kind, size, time (bpf_ktime_get_boot_ns), identity */
static bool header_ok(const struct record *r, __u16 kind, char *why, size_t why_len)
{
	__u64 now = boottime_ns();
	__u64 ts = r->hdr.ts_boot_ns;

	if (r->hdr.kind != kind || r->hdr.size > r->size || r->hdr.size < sizeof(r->hdr))
		snprintf(why, why_len, "kind=%u size=%u record=%zu", r->hdr.kind, r->hdr.size,
			 r->size);
	else if (ts > now || now - ts > TS_SLACK_NS)
		snprintf(why, why_len, "ts_boot_ns=%llu now=%llu", (unsigned long long)ts,
			 (unsigned long long)now);
	else if (r->hdr.uid != getuid() || r->hdr.tid != (__u32)r->hdr.pid)
		snprintf(why, why_len, "uid=%u tid=%u", r->hdr.uid, r->hdr.tid);
	else if (r->hdr.ppid != (__u32)getppid() || strcmp(r->hdr.comm, "bee-trace-smoke") != 0)
		snprintf(why, why_len, "ppid=%u comm=%.16s", r->hdr.ppid, r->hdr.comm);
	else
		return true;
	return false;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	char *s;

	snprintf(buf, sizeof(buf), "%s", path);
	for (s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(buf, 0700) && errno != EEXIST ? -1 : 0;
}

static int write_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return -1;
	if (write(fd, "smoke\n", 6) != 6) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* open, configure (read-only globals, maps sized as in the object), load, attach */
static void load_probe(struct probe *p, const char *dir, const void *cfg, size_t cfg_size)
{
	char path[PATH_MAX];
	struct bpf_program *prog;
	struct bpf_map *rodata, *events;
	struct timespec t0, t1;
	const void *initial;
	size_t size = 0;
	char *value;
	int err;

	libbpf_log_len = 0;
	libbpf_log[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s.bpf.o", dir, p->name);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	p->obj = bpf_object__open_file(path, NULL);
	if (!p->obj) {
		err = -errno;
		goto fail;
	}
	rodata = bpf_object__find_map_by_name(p->obj, ".rodata");
	initial = rodata ? bpf_map__initial_value(rodata, &size) : NULL;
	if (!initial || size < cfg_size) {
		err = -ENOENT;
		fprintf(stderr, "%s: no .rodata of %zu bytes for cfg\n", p->name, cfg_size);
		goto fail;
	}
	value = malloc(size);
	if (!value) {
		err = -ENOMEM;
		goto fail;
	}
	memcpy(value, initial, size);
	memcpy(value, cfg, cfg_size);
	err = bpf_map__set_initial_value(rodata, value, size);
	free(value);
	if (err)
		goto fail;

	bpf_object__for_each_program(prog, p->obj)
	{
		/* entry programs keep arguments only where exits cannot read them */
		if (args_at_exit && strncmp(bpf_program__name(prog), "enter_", 6) == 0) {
			bpf_program__set_autoload(prog, false);
			continue;
		}
		p->n_programs++;
	}
	err = bpf_object__load(p->obj);
	if (err)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &t1);

	bpf_object__for_each_program(prog, p->obj)
	{
		struct bpf_link *link;

		/*
		 * cgroup hooks are loaded here and attached by the enforcement
		 * check; a bare "tracepoint" is a tail-call stage
		 */
		if (!bpf_program__autoload(prog) ||
		    strncmp(bpf_program__section_name(prog), "tracepoint/", 11) != 0)
			continue;
		link = bpf_program__attach(prog);
		if (!link) {
			err = -errno;
			fprintf(stderr, "%s: attach %s: %s\n", p->name, bpf_program__name(prog),
				strerror(errno));
			goto fail;
		}
		if (p->n_links < MAX_LINKS)
			p->links[p->n_links++] = link;
	}

	events = bpf_object__find_map_by_name(p->obj, "events");
	p->rb = events ? ring_buffer__new(bpf_map__fd(events), keep_record, p, NULL) : NULL;
	if (!p->rb) {
		err = -errno;
		goto fail;
	}
	p->loaded = true;
	printf("PROBE kernel=%s probe=%s load=ok programs=%d attached=%d args=%s load_ms=%ld\n",
	       kernel, p->name, p->n_programs, p->n_links, args_at_exit ? "regs" : "entry",
	       (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	return;
fail:
	printf("PROBE kernel=%s probe=%s load=fail programs=%d attached=%d error=%s\n", kernel,
	       p->name, p->n_programs, p->n_links, strerror(-err));
	print_log_tail(p);
}

static void unload_probe(struct probe *p)
{
	int i;

	ring_buffer__free(p->rb);
	for (i = 0; i < p->n_links; i++)
		bpf_link__destroy(p->links[i]);
	bpf_object__close(p->obj);
}

static const struct record *find_file(struct probe *p, const char *name)
{
	int i;

	for (i = 0; i < p->n_records; i++) {
		const struct bt_file_event *ev = &p->records[i].file;
		const char *base = strrchr(ev->path, '/');

		if (ev->hdr.kind == BT_EVENT_FILE_ACCESS && ev->hdr.pid == (__u32)getpid() &&
		    strcmp(base ? base + 1 : ev->path, name) == 0)
			return &p->records[i];
	}
	return NULL;
}

/* the path the kernel names matches where the file really is */
static bool same_path(const struct bt_file_event *ev, const char *want)
{
	size_t n = strlen(want), m = strlen(ev->path);

	if (ev->path_source == BT_PATH_FS_RELATIVE)
		return m <= n && strcmp(want + n - m, ev->path) == 0;
	return strcmp(ev->path, want) == 0;
}

static void test_file(struct probe *p)
{
	char dir[PATH_MAX], want[PATH_MAX + 32], cwd[PATH_MAX], why[128];
	const struct bt_file_event *ev;
	const struct record *r;
	struct bt_filter_key key = {.kind = BT_FILTER_NAME, .len = sizeof(WATCHED_NAME) - 1};
	__u8 one = 1;
	int fd;

	memcpy(key.value, WATCHED_NAME, key.len);
	if (bpf_map__update_elem(bpf_object__find_map_by_name(p->obj, "filter"), &key, sizeof(key),
				 &one, sizeof(one), BPF_ANY)) {
		check(p, "filter_key", false, "error=%s", strerror(errno));
		return;
	}
	if (mkdir_p(SMOKE_DIR) || write_file(SMOKE_DIR "/" WATCHED_NAME) ||
	    write_file(SMOKE_DIR "/plain.txt") || !realpath(SMOKE_DIR, dir) ||
	    !getcwd(cwd, sizeof(cwd))) {
		check(p, "setup", false, "error=%s", strerror(errno));
		return;
	}

	/* a watched file opened for reading: the real path, resolved from the file */
	drain(p);
	fd = open(SMOKE_DIR "/" WATCHED_NAME, O_RDONLY);
	if (fd >= 0)
		close(fd);
	collect(p);
	snprintf(want, sizeof(want), "%s/%s", dir, WATCHED_NAME);
	r = find_file(p, WATCHED_NAME);
	if (!r) {
		check(p, "watched_open", false, "no event (records=%d)", p->n_records);
	} else {
		bool hdr = header_ok(r, BT_EVENT_FILE_ACCESS, why, sizeof(why));
		bool ok;

		ev = &r->file;
		ok = hdr && ev->result == fd && ev->syscall == BT_SYS_OPENAT &&
		     (ev->path_source == BT_PATH_RESOLVED ||
		      ev->path_source == BT_PATH_FS_RELATIVE) &&
		     same_path(ev, want);

		check(p, "watched_open", ok, "path=%s source=%u result=%d syscall=%u %s", ev->path,
		      ev->path_source, ev->result, ev->syscall, hdr ? "header=ok" : why);
	}

	/* a failed open by a relative name: made absolute from the working directory */
	drain(p);
	if (chdir(dir) == 0) {
		fd = open("nothere/" WATCHED_NAME, O_RDONLY);
		if (fd >= 0)
			close(fd);
		if (chdir(cwd)) {
			check(p, "setup", false, "chdir back: %s", strerror(errno));
			return;
		}
	}
	collect(p);
	snprintf(want, sizeof(want), "%s/nothere/%s", dir, WATCHED_NAME);
	r = find_file(p, WATCHED_NAME);
	ev = r ? &r->file : NULL;
	check(p, "failed_relative_open",
	      ev && ev->result == -ENOENT && ev->path_source == BT_PATH_AS_PASSED &&
		  strcmp(ev->path, want) == 0,
	      "path=%s source=%u result=%d", ev ? ev->path : "-", ev ? ev->path_source : 0,
	      ev ? ev->result : 0);

	/* a file whose name is not in the filter never reaches user space */
	drain(p);
	fd = open(SMOKE_DIR "/plain.txt", O_RDONLY);
	if (fd >= 0)
		close(fd);
	collect(p);
	r = find_file(p, "plain.txt");
	check(p, "unwatched_open", !r && fd >= 0, "%s", r ? "event seen" : "no event");
}

static const struct record *find_net(struct probe *p, const char *addr, __u16 port, __u8 syscall)
{
	struct in_addr a;
	int i;

	inet_pton(AF_INET, addr, &a);
	for (i = 0; i < p->n_records; i++) {
		const struct bt_net_event *ev = &p->records[i].net;

		if (ev->hdr.kind == BT_EVENT_NETWORK && ev->hdr.pid == (__u32)getpid() &&
		    ev->family == AF_INET && ev->dport == port && ev->syscall == syscall &&
		    memcmp(ev->daddr, &a, 4) == 0)
			return &p->records[i];
	}
	return NULL;
}

/* connect a new TCP socket; 0 or -errno */
static int tcp_connect(const char *addr, __u16 port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ret;

	inet_pton(AF_INET, addr, &sa.sin_addr);
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	close(fd);
	return ret;
}

static void net_check(struct probe *p, const char *name, const char *addr, __u16 port, __u8 syscall,
		      int want_result, int want_blocked)
{
	const struct bt_net_event *ev;
	const struct record *r;
	char why[128] = "header=ok";
	bool hdr = false;

	collect(p);
	r = find_net(p, addr, port, syscall);
	ev = r ? &r->net : NULL;
	if (r)
		hdr = header_ok(r, BT_EVENT_NETWORK, why, sizeof(why));
	check(p, name,
	      ev && hdr && ev->result == want_result && ev->blocked == want_blocked &&
		  (!want_blocked || ev->rule == BLOCKED_RULE),
	      "daddr=%s dport=%u result=%d blocked=%u rule=%u %s", addr, port, ev ? ev->result : 0,
	      ev ? ev->blocked : 0, ev ? ev->rule : 0, ev ? why : "no event");
}

/* the cgroup2 mount point, or "" */
static void cgroup2_mount(char *out, size_t len)
{
	char line[1024], mnt[512], fstype[64];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		if (sep && sscanf(sep, " - %63s", fstype) == 1 && strcmp(fstype, "cgroup2") == 0 &&
		    sscanf(line, "%*s %*s %*s %*s %511s", mnt) == 1) {
			snprintf(out, len, "%s", mnt);
			break;
		}
	}
	if (f)
		fclose(f);
}

static int write_pid(const char *cgroup)
{
	char path[PATH_MAX];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ret = fprintf(f, "%d\n", getpid()) < 0;
	return fclose(f) || ret ? -1 : 0;
}

/*
 * Enforcement: the connect4 hook on a cgroup of its own (not the root, so
 * that on a shared host nothing else is denied) refuses the blocked address.
 */
static void test_enforce(struct probe *p, __u16 port)
{
	char mnt[512], cg[PATH_MAX], home[PATH_MAX], line[PATH_MAX];
	struct bpf_program *prog = bpf_object__find_program_by_name(p->obj, "deny_connect4");
	struct bpf_link *link = NULL;
	FILE *f;
	int cgfd, ret, other;

	cgroup2_mount(mnt, sizeof(mnt));
	if (!mnt[0] || !prog) {
		skip(p, "enforce_connect", "no cgroup2 mount");
		return;
	}
	/* where this process is now, to come back to */
	snprintf(home, sizeof(home), "%s", mnt);
	f = fopen("/proc/self/cgroup", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(home, sizeof(home), "%s%s", mnt, line + 3);
		}
	}
	if (f)
		fclose(f);

	snprintf(cg, sizeof(cg), "%s/bee-trace-smoke-%d", mnt, getpid());
	if (mkdir(cg, 0755) || write_pid(cg)) {
		check(p, "enforce_connect", false, "cgroup %s: %s", cg, strerror(errno));
		rmdir(cg);
		return;
	}
	cgfd = open(cg, O_RDONLY | O_DIRECTORY);
	link = cgfd >= 0 ? bpf_program__attach_cgroup(prog, cgfd) : NULL;
	if (!link) {
		check(p, "enforce_connect", false, "attach deny_connect4: %s", strerror(errno));
	} else {
		drain(p);
		ret = tcp_connect(BLOCKED_ADDR, port);
		other = tcp_connect("127.0.0.1", port);
		net_check(p, "enforce_connect", BLOCKED_ADDR, port, BT_NET_CONNECT, -EPERM, 1);
		check(p, "enforce_returns", ret == -EPERM && other == 0, "blocked=%s other=%s",
		      strerror(-ret), other ? strerror(-other) : "ok");
		bpf_link__destroy(link);
	}
	if (cgfd >= 0)
		close(cgfd);
	if (write_pid(home) || rmdir(cg))
		fprintf(stderr, "network_monitor: leaving cgroup %s: %s\n", cg, strerror(errno));
}

static void test_network(struct probe *p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
	struct bt_lpm_v4 key = {.prefixlen = 16};
	__u32 rule = BLOCKED_RULE;
	socklen_t len = sizeof(sa);
	int lfd, ufd, ret;
	__u16 port;

	inet_pton(AF_INET, BLOCKED_NET, key.addr);
	if (bpf_map__update_elem(bpf_object__find_map_by_name(p->obj, "blocked_v4"), &key,
				 sizeof(key), &rule, sizeof(rule), BPF_ANY)) {
		check(p, "blocked_ips", false, "error=%s", strerror(errno));
		return;
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 16) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len)) {
		check(p, "setup", false, "listen: %s", strerror(errno));
		return;
	}
	port = ntohs(sa.sin_port);

	/* loopback connect to a listening port */
	drain(p);
	ret = tcp_connect("127.0.0.1", port);
	net_check(p, "loopback_connect", "127.0.0.1", port, BT_NET_CONNECT, ret, 0);

	/* the destination is in blocked_ips: flagged with its rule, not denied */
	drain(p);
	ret = tcp_connect(BLOCKED_ADDR, port);
	net_check(p, "blocked_connect", BLOCKED_ADDR, port, BT_NET_CONNECT, ret, 1);

	/* a UDP datagram to an explicit destination */
	drain(p);
	ufd = socket(AF_INET, SOCK_DGRAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ret = sendto(ufd, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	close(ufd);
	net_check(p, "udp_sendto", "127.0.0.1", port, BT_NET_SENDTO, ret, 0);

	test_enforce(p, port);
	close(lfd);
}

static const struct record *find_mem(struct probe *p, __u8 op, pid_t target)
{
	int i;

	for (i = 0; i < p->n_records; i++) {
		const struct bt_mem_event *ev = &p->records[i].mem;

		if (ev->hdr.kind == BT_EVENT_MEMORY && ev->hdr.pid == (__u32)getpid() &&
		    ev->operation == op && (target == 0 || ev->target_pid == (__u32)target))
			return &p->records[i];
	}
	return NULL;
}

static void mem_check(struct probe *p, const char *name, __u8 op, pid_t target, int want_result)
{
	const struct bt_mem_event *ev;
	const struct record *r;
	char why[128] = "header=ok";
	bool hdr = false;

	collect(p);
	r = find_mem(p, op, target);
	ev = r ? &r->mem : NULL;
	if (r)
		hdr = header_ok(r, BT_EVENT_MEMORY, why, sizeof(why));
	check(p, name, ev && hdr && ev->result == want_result && !ev->killed,
	      "target_pid=%d result=%d request=%llu %s", target, ev ? ev->result : 0,
	      ev ? (unsigned long long)ev->request : 0ULL, ev ? why : "no event");
}

static void test_memory(struct probe *p)
{
	char buf[sizeof(secret)] = {}, path[64];
	struct iovec local = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct iovec remote = {.iov_base = (void *)secret, .iov_len = sizeof(secret)};
	pid_t child;
	ssize_t n;
	int fd, status;

	child = fork();
	if (child == 0) {
		for (;;)
			pause();
	}
	if (child < 0) {
		check(p, "setup", false, "fork: %s", strerror(errno));
		return;
	}

	/* a cross-process read: the child's copy of secret */
	drain(p);
	n = process_vm_readv(child, &local, 1, &remote, 1, 0);
	mem_check(p, "process_vm_readv", BT_MEM_VM_READV, child, n < 0 ? -errno : (int)n);
	if (n != sizeof(buf) || memcmp(buf, (const void *)secret, sizeof(buf)) != 0)
		check(p, "process_vm_readv_data", false, "read=%zd", n);

	/* a process reading itself is not an alert */
	drain(p);
	n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	collect(p);
	check(p, "self_read_ignored", n == sizeof(buf) && !find_mem(p, BT_MEM_VM_READV, 0), "%s",
	      find_mem(p, BT_MEM_VM_READV, 0) ? "event seen" : "no event");

	/* /proc/<pid>/mem of another process */
	drain(p);
	snprintf(path, sizeof(path), "/proc/%d/mem", child);
	fd = open(path, O_RDONLY);
	mem_check(p, "proc_mem_open", BT_MEM_PROC_MEM, child, fd < 0 ? -errno : fd);
	if (fd >= 0)
		close(fd);

	/* ptrace attach */
	drain(p);
	n = ptrace(PTRACE_ATTACH, child, NULL, NULL);
	mem_check(p, "ptrace_attach", BT_MEM_PTRACE, child, n < 0 ? -errno : 0);
	if (n == 0) {
		waitpid(child, &status, 0);
		ptrace(PTRACE_DETACH, child, NULL, NULL);
	}

	kill(child, SIGKILL);
	waitpid(child, &status, 0);
}

static void finish(struct probe *p)
{
	bool ok = p->loaded && p->checks > 0 && p->passed == p->checks;

	printf("RESULT kernel=%s probe=%s %s checks=%d/%d\n", kernel, p->name, ok ? "pass" : "fail",
	       p->passed, p->checks);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/objects";
	static struct bt_file_config file_cfg;
	struct bt_net_config net_cfg = {};
	struct bt_mem_config mem_cfg = {
	    .watch_ptrace = 1, .watch_process_vm = 1, .watch_proc_mem = 1};
	static struct probe probes[3] = {
	    {.name = "file_monitor"},
	    {.name = "network_monitor"},
	    {.name = "memory_monitor"},
	};
	struct utsname u;
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	uname(&u);
	snprintf(kernel, sizeof(kernel), "%s", u.release);
	libbpf_set_print(keep_libbpf_log);

	probe_features();
	file_cfg.task_btf = task_btf;
	file_cfg.args_at_exit = net_cfg.args_at_exit = mem_cfg.args_at_exit = args_at_exit;
	add_name_signature(&file_cfg, WATCHED_NAME);

	/* self_tgid stays 0: this process does the watched things itself */
	load_probe(&probes[0], dir, &file_cfg, sizeof(file_cfg));
	load_probe(&probes[1], dir, &net_cfg, sizeof(net_cfg));
	load_probe(&probes[2], dir, &mem_cfg, sizeof(mem_cfg));

	/* all three stay attached together, as with --probe-type all */
	if (probes[0].loaded)
		test_file(&probes[0]);
	if (probes[1].loaded)
		test_network(&probes[1]);
	if (probes[2].loaded)
		test_memory(&probes[2]);

	for (i = 0; i < 3; i++) {
		finish(&probes[i]);
		unload_probe(&probes[i]);
	}
	printf("DONE kernel=%s\n", kernel);
	return 0;
}
