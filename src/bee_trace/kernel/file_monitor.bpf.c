// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * file_monitor: opens for reading of watched files.
 *
 * Syscall tracepoints are the hooks because they are there on every kernel
 * bee-trace supports, unlike fentry or BPF LSM. Every open on the host runs
 * the exit program, so its common case, an unwatched file, is made cheap: it
 * finds the struct file behind the new descriptor, reads the file's name and
 * its parent's, and tests a few signatures of them against a bit set in
 * read-only memory (cfg.sig_bits). Only a hit goes on to the exact
 * pre-filter (a hash map of keys), and only a file that passes that has its
 * real path walked, dentry by dentry, so relative names, directory
 * descriptors and symlinks all end in the same absolute path.
 *
 * The call's arguments (flags, directory descriptor, the name of a failed
 * open) are read at exit from the task's saved registers where the kernel
 * has bpf_task_pt_regs (5.15). Older kernels run entry programs that keep
 * them per thread in a hash map, at the cost of a second program per open.
 */
#include "common.bpf.h"

#define O_ACCMODE 00000003
#define O_WRONLY  00000001
#define O_PATH	  010000000
#define AT_FDCWD  -100
#define EPERM	  1
#define EACCES	  13
#define EFAULT	  14

/* syscall numbers, to tell at exit which open it was */
#if defined(__TARGET_ARCH_x86)
#define NR_OPEN		     2
#define NR_OPENAT	     257
#define NR_OPEN_BY_HANDLE_AT 304
#define NR_OPENAT2	     437
#elif defined(__TARGET_ARCH_arm64)
#define NR_OPEN		     -1 /* arm64 has openat only */
#define NR_OPENAT	     56
#define NR_OPEN_BY_HANDLE_AT 265
#define NR_OPENAT2	     437
#else
#error "file_monitor: syscall numbers for this architecture are missing"
#endif

#define NAME_MAX       255
#define WALK_MAX_DEPTH 160
#define SCRATCH_HALF   BT_PATH_MAX
#define VIEW_MAX       128
/* mounts stacked on one mount point that mounted_parent climbs through */
#define MOUNT_STACK_MAX 4

const volatile struct bt_file_config cfg = {};

/* keeps the record type in the object's BTF for the user-space check */
const struct bt_file_event *bt_file_event_btf __attribute__((unused));

struct pending_open {
	__u64 filename;
	__u32 flags;
	__s32 dfd;
	__u16 syscall;
};

struct scratch {
	struct bt_file_event ev;
	/*
	 * the walk's write position lives here, not in a register, so the
	 * verifier sees every iteration alike and prunes instead of unrolling
	 */
	__u32 pos;
	/* the walk crossed a mount of less than a whole file system */
	__u32 bind;
	__u32 end;
	__u32 _pad;
	__s32 slash;
	__s32 pslash;
	__u32 name_len;
	__u32 pname_len;
	/* a dentry's bytes from d_parent to the end of its inline name */
	__u8 view[VIEW_MAX];
	/* what the first stage hands the second (see open_stages) */
	struct pending_open args;
	__u32 have_args;
	__u32 file_name_len;
	/* opened_file's fdt->fd, as a number */
	__u64 fds_addr;
	struct file *file;
	struct dentry *dentry;
	struct dentry *parent;
	const unsigned char *file_name;
	char name[NAME_MAX + 1];
	char pname[NAME_MAX + 1];
	/* path assembled right to left ends at SCRATCH_HALF */
	char walk[2 * SCRATCH_HALF];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct bt_filter_key);
	__type(value, __u8);
} filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pending_open);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/*
 * Another probe's exit program for the opens it wants (BT_FILTER_HANDOFF
 * keys): memory_monitor's, for /proc/<pid>/mem. A tail call costs far less
 * than a second program attached to every open.
 */
/* key and value sizes, not types: the kernel takes no BTF for a program array */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} open_exit_chain SEC(".maps");

/* can a descriptor opened with these flags read? write-only and O_PATH ones cannot */
static __always_inline bool can_read(__u32 flags)
{
	return (flags & O_ACCMODE) != O_WRONLY && !(flags & O_PATH);
}

static __always_inline int remember_open(__u64 filename, __u32 flags, __s32 dfd, __u16 syscall)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending_open p = {};

	if (id >> 32 == cfg.self_tgid)
		return 0;

	/*
	 * only opens that can read: write-only and O_PATH descriptors cannot.
	 * openat2's flags are in the caller's memory, which another thread may
	 * change before the kernel reads them: the exit decides for those.
	 */
	if (syscall != BT_SYS_OPENAT2 && !can_read(flags))
		return 0;

	p.filename = filename;
	p.flags = flags;
	p.dfd = dfd;
	p.syscall = syscall;
	if (bpf_map_update_elem(&pending, &id, &p, BPF_ANY))
		count(BT_CNT_DROP_PENDING_FULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int enter_open(struct syscall_enter_ctx *ctx)
{
	return remember_open(ctx->args[0], (__u32)ctx->args[1], AT_FDCWD, BT_SYS_OPEN);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct syscall_enter_ctx *ctx)
{
	return remember_open(ctx->args[1], (__u32)ctx->args[2], (__s32)ctx->args[0], BT_SYS_OPENAT);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int enter_openat2(struct syscall_enter_ctx *ctx)
{
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return remember_open(ctx->args[1], (__u32)how.flags, (__s32)ctx->args[0], BT_SYS_OPENAT2);
}

/* does one key of this kind, taken from src[off, off+len), exist in the filter? */
static __always_inline bool filter_has(__u8 kind, const char *src, __u64 off, __u64 len)
{
	struct bt_filter_key key = {};

	if (len == 0 || len > BT_FILTER_KEY_MAX)
		return false;
	key.kind = kind;
	key.len = len;
	BOUND(len, 0x3f);
	BOUND(off, 0xfff);
	if (len > BT_FILTER_KEY_MAX)
		return false;
	if (bpf_probe_read_kernel(key.value, len, src + off))
		return false;
	return bpf_map_lookup_elem(&filter, &key) != NULL;
}

/*
 * The pre-filter. name and parent point at kernel or map memory, name_len
 * and parent_len are their lengths. A match here only means user space will
 * look closer: it refines with the full pattern.
 */
static __always_inline bool prefilter(const char *name, __u32 name_len, const char *parent,
				      __u32 parent_len)
{
	__u32 n;

	if (filter_has(BT_FILTER_NAME, name, 0, name_len))
		return true;
	if (cfg.has_dirname && parent_len && filter_has(BT_FILTER_DIRNAME, parent, 0, parent_len))
		return true;

	for (n = 1; n <= BT_FILTER_KEY_MAX; n++) {
		if (n > name_len)
			break;
		if ((cfg.prefix_lens & (1ULL << n)) && filter_has(BT_FILTER_PREFIX, name, 0, n))
			return true;
		if ((cfg.suffix_lens & (1ULL << n)) &&
		    filter_has(BT_FILTER_SUFFIX, name, name_len - n, n))
			return true;
	}
	return false;
}

/*
 * Writes the absolute path of (mnt, dentry) into s->walk so that it ends at
 * SCRATCH_HALF, and returns where it starts. Mount points are crossed by
 * stepping to the parent mount, as d_path does; the walk stops at the root
 * of the mount namespace's tree or after WALK_MAX_DEPTH components. With
 * follow_mounts false it ignores mounts and stops at the file system's root.
 */
static __always_inline __u32 walk_path(struct scratch *s, struct vfsmount *vfsmnt,
				       struct dentry *dentry, bool follow_mounts, bool *truncated)
{
	__u32 mnt_off = bpf_core_field_offset(struct mount, mnt);
	struct mount *mnt = (void *)vfsmnt - mnt_off;
	__u32 pos;
	int i;

	*truncated = true;
	s->walk[SCRATCH_HALF] = '\0';
	s->pos = SCRATCH_HALF;
	s->bind = 0;
	for (i = 0; i < WALK_MAX_DEPTH; i++) {
		struct dentry *parent;
		struct qstr d_name;
		__u32 len;

		if (follow_mounts && dentry == BPF_CORE_READ(mnt, mnt.mnt_root)) {
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

			/* a bind mount of a directory or file, not of a whole file system */
			if (dentry != BPF_CORE_READ(dentry, d_sb, s_root))
				s->bind = 1;
			if (mnt_parent == mnt) {
				*truncated = false;
				break;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			continue;
		}
		parent = BPF_CORE_READ(dentry, d_parent);
		if (parent == dentry) {
			*truncated = false;
			break;
		}
		d_name = BPF_CORE_READ(dentry, d_name);
		len = d_name.len & NAME_MAX;
		pos = s->pos;
		if (len + 1 > pos)
			break;
		pos -= len;
		bpf_probe_read_kernel(&s->walk[pos & (SCRATCH_HALF - 1)], len, d_name.name);
		pos -= 1;
		s->walk[pos & (SCRATCH_HALF - 1)] = '/';
		s->pos = pos;
		dentry = parent;
	}
	pos = s->pos;
	if (pos == SCRATCH_HALF) {
		pos -= 1;
		s->walk[pos & (SCRATCH_HALF - 1)] = '/';
	}
	return pos;
}

static __always_inline void send(void *ctx, struct bt_file_event *ev, __u32 path_len)
{
	__u32 size;

	/* only now, for the few opens that passed the pre-filter */
	fill_header(&ev->hdr, (struct task_struct *)bpf_get_current_task(), BT_EVENT_FILE_ACCESS);
	path_len &= BT_PATH_MAX - 1;
	ev->path_len = path_len;
	size = offsetof(struct bt_file_event, path) + path_len + 1;
	ev->hdr.size = size;
	if (size > sizeof(*ev))
		size = sizeof(*ev);
	emit(ctx, ev, size);
}

/* the open succeeded and the file passed the pre-filter: name it */
static __always_inline void report_file(void *ctx, struct scratch *s, struct file *f,
					struct dentry *dentry)
{
	bool truncated;
	__u64 pos, len;

	pos = walk_path(s, BPF_CORE_READ(f, f_path.mnt), dentry, true, &truncated);
	s->ev.path_source = truncated ? BT_PATH_TRUNCATED : BT_PATH_RESOLVED;
	if (s->bind) {
		/* the mount path names the mount point; name the file in its file system */
		pos = walk_path(s, NULL, dentry, false, &truncated);
		s->ev.path_source = truncated ? BT_PATH_TRUNCATED : BT_PATH_FS_RELATIVE;
		s->ev.dev = BPF_CORE_READ(dentry, d_sb, s_dev);
	}
	len = SCRATCH_HALF - pos;
	if (len > BT_PATH_MAX - 1) {
		/* no room for the NUL: drop the leading byte, the path is cut anyway */
		len = BT_PATH_MAX - 1;
		pos += 1;
		s->ev.path_source = BT_PATH_TRUNCATED;
	}
	BOUND(len, 0xfff);
	BOUND(pos, 0xfff);
	bpf_probe_read_kernel(s->ev.path, len, &s->walk[pos]);
	s->ev.path[len] = '\0';
	send(ctx, &s->ev, len);
}

/*
 * A relative name is relative to the caller's working directory or to the
 * directory descriptor it passed: walk that directory now, while the caller
 * is still in the syscall, and put it in front of the name. Returns the new
 * length; on failure the name stays relative and user space says so.
 */
static __always_inline __u64 prefix_directory(struct scratch *s, struct task_struct *task,
					      __u64 name_len)
{
	struct vfsmount *mnt;
	struct dentry *dentry;
	bool truncated;
	__u64 pos, len;

	if (s->ev.dfd == AT_FDCWD) {
		mnt = BPF_CORE_READ(task, fs, pwd.mnt);
		dentry = BPF_CORE_READ(task, fs, pwd.dentry);
	} else {
		struct file *dir = file_of_fd(task, (__u32)s->ev.dfd);

		if (s->ev.dfd < 0 || !dir)
			return name_len;
		mnt = BPF_CORE_READ(dir, f_path.mnt);
		dentry = BPF_CORE_READ(dir, f_path.dentry);
	}
	if (!mnt || !dentry)
		return name_len;

	/* directory ends at SCRATCH_HALF; then '/', then the name */
	pos = walk_path(s, mnt, dentry, true, &truncated);
	if (truncated)
		return name_len;
	s->walk[SCRATCH_HALF] = '/';
	BOUND(name_len, 0xfff);
	bpf_probe_read_kernel(&s->walk[SCRATCH_HALF + 1], name_len, s->ev.path);

	len = SCRATCH_HALF - pos + 1 + name_len;
	if (len > BT_PATH_MAX - 1)
		return name_len;
	BOUND(len, 0xfff);
	BOUND(pos, 0xfff);
	bpf_probe_read_kernel(s->ev.path, len, &s->walk[pos]);
	s->ev.path[len] = '\0';
	return len;
}

/*
 * The open failed: there is no file, only the name the caller passed. Its
 * last component (and the one before) is what the pre-filter judges; user
 * space makes the name absolute.
 */
static __always_inline void report_name(void *ctx, struct scratch *s, struct task_struct *task,
					__u64 filename)
{
	long n = bpf_probe_read_user_str(s->ev.path, sizeof(s->ev.path), (void *)filename);
	__u64 end, base, pbase, len;
	int i;

	/*
	 * the kernel read the name, and now it cannot be read: another thread
	 * unmapped it while the call ran. Whether it was watched is unknown.
	 */
	if (n < 0 && s->ev.result != -EFAULT) {
		count(BT_CNT_DROP_UNREADABLE);
		return;
	}
	if (n <= 1)
		return;
	end = (__u64)(n - 1);

	/*
	 * scan back for the last two slashes; the end and the positions found
	 * live in map memory (see struct scratch) so every iteration looks alike
	 */
	s->end = end;
	s->slash = -1;
	s->pslash = -1;
	for (i = 1; i <= 2 * (NAME_MAX + 1); i++) {
		__u64 at = s->end - i;

		if (i > s->end)
			break;
		BOUND(at, 0xfff);
		if (s->ev.path[at] != '/')
			continue;
		if (s->slash < 0) {
			s->slash = at;
			continue;
		}
		s->pslash = at;
		break;
	}

	base = (__u64)(s->slash + 1);
	len = end - base;
	if (len > NAME_MAX)
		return;
	BOUND(base, 0xfff);
	BOUND(len, 0xff);
	s->name_len = len;
	bpf_probe_read_kernel(s->name, len, &s->ev.path[base]);

	s->pname_len = 0;
	if (s->slash > 0) {
		pbase = (__u64)(s->pslash + 1);
		len = (__u64)s->slash - pbase;
		if (len <= NAME_MAX) {
			BOUND(pbase, 0xfff);
			BOUND(len, 0xff);
			s->pname_len = len;
			bpf_probe_read_kernel(s->pname, len, &s->ev.path[pbase]);
		}
	}

	/*
	 * a denied open names a file that exists, maybe through a symlink whose
	 * own name says nothing: those go to user space, which follows the link
	 */
	if (s->ev.result != -EACCES && s->ev.result != -EPERM &&
	    !prefilter(s->name, s->name_len, s->pname, s->pname_len))
		return;
	s->ev.path_source = BT_PATH_AS_PASSED;
	if (s->ev.path[0] != '/')
		end = prefix_directory(s, task, end);
	send(ctx, &s->ev, end);
}

/*
 * The signature of the n bytes v (1 <= n <= BT_SIG_SPAN, first byte lowest)
 * of kind tag, as policy/signatures.py computes it: its bit in cfg.sig_bits
 * is set when some key has it.
 */
static __always_inline bool sig_hit(__u64 tag, __u64 n, __u64 v)
{
	__u64 h =
	    ((v + (tag * 16 + n) * 0x100000001b3ULL) * 0x9e3779b97f4a7c15ULL) >> (64 - BT_SIG_BITS);

	return cfg.sig_bits[h >> 6] & (1ULL << (h & 63));
}

/*
 * Does a name of len bytes have a signature of kind tag in the set? edge
 * holds its last BT_SIG_SPAN bytes with the last one highest (BT_SIG_TAIL),
 * or its first ones with the first lowest (BT_SIG_HEAD). One test per length
 * some key has.
 */
static __always_inline bool sig_any(__u64 tag, __u64 edge, __u32 len)
{
	__u8 lens = cfg.sig_lens[tag];
	__u64 v;
	int n;

#pragma unroll
	for (n = 1; n <= BT_SIG_SPAN; n++) {
		if (!(lens & (1U << (n - 1))) || n > len)
			continue;
		if (n == BT_SIG_SPAN)
			v = edge;
		else if (tag == BT_SIG_HEAD)
			v = edge & ((1ULL << (8 * n)) - 1);
		else
			v = edge >> (64 - 8 * n);
		if (sig_hit(tag, n, v))
			return true;
	}
	return false;
}

/*
 * Is a name of len bytes, whose last BT_SIG_SPAN bytes edge holds (the last
 * one highest), a key of kind tag (BT_SIG_NAME, BT_SIG_PARENT)? One test: a
 * key and the name are compared by their last bytes, and only when their
 * lengths, counted up to BT_SIG_SPAN, agree.
 */
static __always_inline bool sig_exact(__u64 tag, __u64 edge, __u32 len)
{
	__u64 n = len < BT_SIG_SPAN ? len : BT_SIG_SPAN;

	if (n == 0 || !(cfg.sig_lens[tag] & (1U << (n - 1))))
		return false;
	return sig_hit(tag, n, n == BT_SIG_SPAN ? edge : edge >> (64 - 8 * n));
}

/* the last BT_SIG_SPAN bytes of a name, the last one in the top byte */
static __always_inline __u64 name_tail(const unsigned char *name, __u32 len)
{
	__u64 edge = 0, n = len;

	if (n >= BT_SIG_SPAN) {
		bpf_probe_read_kernel(&edge, sizeof(edge), name + n - BT_SIG_SPAN);
		return edge;
	}
	/* exactly len bytes: nothing past the name is read */
	BOUND(n, 0x7);
	bpf_probe_read_kernel(&edge, n, name);
	return edge << (8 * (BT_SIG_SPAN - n));
}

/* the first BT_SIG_SPAN bytes of a name (fewer if shorter), the first lowest */
static __always_inline __u64 name_head(const unsigned char *name, __u32 len, __u64 tail)
{
	__u64 edge = 0;

	if (len > BT_SIG_SPAN) {
		bpf_probe_read_kernel(&edge, sizeof(edge), name);
		return edge;
	}
	/* the whole name is in tail already */
	return len ? tail >> (8 * (BT_SIG_SPAN - len)) : 0;
}

/* a dentry's parent, and its name with the name's last BT_SIG_SPAN bytes */
struct dentry_names {
	struct dentry *parent;
	const unsigned char *name;
	__u32 len;
	__u64 tail;
};

/*
 * Where a dentry keeps a short name inline, and how many bytes that holds.
 * Returns false when the layout is not the usual one (parent, then the name's
 * qstr with its length after a 32-bit hash, later the inline name, within
 * VIEW_MAX bytes): then each field is read on its own.
 */
static __always_inline bool usual_layout(__u32 *inline_off, __u32 *inline_size)
{
	__u32 parent_off = bpf_core_field_offset(struct dentry, d_parent);

	if (bpf_core_field_exists(struct dentry, d_shortname)) {
		*inline_off = bpf_core_field_offset(struct dentry, d_shortname);
		*inline_size = bpf_core_field_size(struct dentry, d_shortname);
	} else {
		*inline_off = bpf_core_field_offset(struct dentry, d_iname);
		*inline_size = bpf_core_field_size(struct dentry, d_iname);
	}
	return bpf_core_field_offset(struct dentry, d_name) == parent_off + 8 &&
	       bpf_core_field_offset(struct qstr, len) == 4 &&
	       bpf_core_field_offset(struct qstr, name) == 8 && *inline_off > parent_off &&
	       *inline_off - parent_off + *inline_size <= VIEW_MAX && *inline_size >= BT_SIG_SPAN;
}

/*
 * Reads what the first stage needs of a dentry. In the usual layout that is
 * one read of the dentry's bytes into view, and none more for a short name,
 * which the dentry holds inline: every open runs this, so reads count.
 */
static __always_inline void read_names(struct dentry *dentry, __u8 *view, struct dentry_names *out)
{
	__u32 inline_off, inline_size, parent_off;
	struct qstr name;
	__u64 at;

	if (!usual_layout(&inline_off, &inline_size)) {
		out->parent = BPF_CORE_READ(dentry, d_parent);
		name = BPF_CORE_READ(dentry, d_name);
		out->len = name.len;
		out->name = name.name;
		out->tail = name_tail(out->name, out->len);
		return;
	}
	parent_off = bpf_core_field_offset(struct dentry, d_parent);
	if (bpf_probe_read_kernel(view, inline_off - parent_off + inline_size,
				  (void *)dentry + parent_off)) {
		out->len = 0;
		out->tail = 0;
		return;
	}
	out->parent = *(struct dentry **)view;
	out->len = *(__u32 *)(view + 12);
	out->name = *(const unsigned char **)(view + 16);
	if ((void *)out->name != (void *)dentry + inline_off || out->len >= inline_size) {
		/* a long name, kept outside the dentry */
		out->tail = name_tail(out->name, out->len);
		return;
	}
	if (out->len == 0) {
		out->tail = 0;
		return;
	}
	/* the last BT_SIG_SPAN bytes, or all of a shorter name with what follows it */
	at = inline_off - parent_off;
	if (out->len >= BT_SIG_SPAN)
		at += out->len - BT_SIG_SPAN;
	if (at > VIEW_MAX - BT_SIG_SPAN)
		return;
	BOUND(at, 0x7f);
	if (at > VIEW_MAX - BT_SIG_SPAN)
		return;
	out->tail = *(__u64 *)(view + at);
	if (out->len < BT_SIG_SPAN)
		out->tail <<= 8 * (BT_SIG_SPAN - out->len);
}

/*
 * The first stage: could the file named name, in a directory named pname,
 * match a key? False only when no key can match; true sends the open to the
 * exact pre-filter.
 */
static __always_inline bool sig_check(struct dentry_names *names, __u8 *view)
{
	struct dentry_names parent = {};

	if (sig_exact(BT_SIG_NAME, names->tail, names->len))
		return true;
	if (cfg.sig_lens[BT_SIG_TAIL] && sig_any(BT_SIG_TAIL, names->tail, names->len))
		return true;
	if (cfg.sig_lens[BT_SIG_HEAD] &&
	    sig_any(BT_SIG_HEAD, name_head(names->name, names->len, names->tail), names->len))
		return true;
	if (!cfg.sig_lens[BT_SIG_PARENT] || !names->parent)
		return false;
	read_names(names->parent, view, &parent);
	/*
	 * a parent that is the root of its file system (its own parent) is
	 * named "/", but the file's directory is where that file system is
	 * mounted: the second stage finds out
	 */
	return parent.parent == names->parent || sig_exact(BT_SIG_PARENT, parent.tail, parent.len);
}

/* the file behind a descriptor of the current task */
static __always_inline struct file *opened_file(struct scratch *s, __u32 fd)
{
	struct file *f = NULL;

	if (cfg.task_btf) {
		/* direct loads, checked by the verifier against the kernel's BTF */
		struct task_struct *task = bpf_get_current_task_btf();
		struct fdtable *fdt = task->files->fdt;

		if (fd >= fdt->max_fds)
			return NULL;
		/*
		 * fdt->fd points to pointers, which the verifier lets no program
		 * index. Stored in map memory and read back, it is a number that
		 * can be: a privileged program may do that, and it saves a read.
		 */
		*(volatile __u64 *)&s->fds_addr = (__u64)fdt->fd;
		bpf_probe_read_kernel(
		    &f, sizeof(f),
		    (void *)(*(volatile __u64 *)&s->fds_addr + (__u64)fd * sizeof(f)));
		return f;
	}
	return file_of_fd((struct task_struct *)bpf_get_current_task(), fd);
}

/*
 * The call's arguments, from the registers the task entered the kernel with
 * (cfg.args_at_exit). False for a call that is not an open.
 */
static __always_inline bool args_from_regs(struct syscall_exit_ctx *ctx, struct pending_open *p)
{
	struct pt_regs *regs = syscall_regs();
	__u64 a0 = SYSCALL_ARG1(regs), a1 = SYSCALL_ARG2(regs), a2 = SYSCALL_ARG3(regs);
	struct open_how how = {};
	long nr = ctx->nr;

	p->dfd = (__s32)a0;
	p->filename = a1;
	p->flags = (__u32)a2;
	if (nr == NR_OPENAT) {
		p->syscall = BT_SYS_OPENAT;
	} else if (nr == NR_OPEN) {
		p->syscall = BT_SYS_OPEN;
		p->dfd = AT_FDCWD;
		p->filename = a0;
		p->flags = (__u32)a1;
	} else if (nr == NR_OPENAT2) {
		p->syscall = BT_SYS_OPENAT2;
		bpf_probe_read_user(&how, sizeof(how), (void *)a2);
		p->flags = (__u32)how.flags;
	} else if (nr == NR_OPEN_BY_HANDLE_AT) {
		p->syscall = BT_SYS_OPEN_BY_HANDLE_AT;
		p->filename = 0;
	} else {
		return false;
	}
	return true;
}

static __always_inline void fill_args(struct scratch *s, struct pending_open *p, __s64 ret)
{
	s->ev.result = (__s32)ret;
	s->ev.flags = p->flags;
	s->ev.dfd = p->dfd;
	s->ev.syscall = p->syscall;
	s->ev.dev = 0;
}

/*
 * The directory a file is in, as its path names it. A file at the root of a
 * mounted file system (a secret volume mounted on a watched directory) has
 * that root for its parent dentry, named "/": its directory is the mount
 * point the mount sits on, below any mounts stacked there.
 */
static __always_inline struct dentry *mounted_parent(struct file *f, struct dentry *parent)
{
	struct vfsmount *vfsmnt = BPF_CORE_READ(f, f_path.mnt);
	struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	int i;

	for (i = 0; i < MOUNT_STACK_MAX; i++) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		if (parent != BPF_CORE_READ(mnt, mnt.mnt_root) || up == mnt)
			break;
		parent = BPF_CORE_READ(mnt, mnt_mountpoint);
		mnt = up;
	}
	return parent;
}

/*
 * The second stage, for the few opens the first one lets through: a failed
 * open, or a file whose names have a signature in the set. It is its own
 * program, reached by a tail call, so the verifier walks it once and not
 * once for every way the first stage can end.
 */
SEC("tracepoint")
int open_slow(struct syscall_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct dentry *parent;
	struct qstr pname;
	struct scratch *s;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	if (cfg.args_at_exit)
		s->have_args = id >> 32 != cfg.self_tgid && args_from_regs(ctx, &s->args);
	if (s->have_args) {
		/*
		 * Can it read? An opened file says so itself, and its access mode
		 * is what is reported: openat2's flags are in the caller's memory,
		 * which another thread may have changed since the kernel read them.
		 */
		if (ctx->ret >= 0) {
			struct file *opened = s->file;
			__u32 mode = BPF_CORE_READ(opened, f_flags) & (O_ACCMODE | O_PATH);

			s->args.flags = (s->args.flags & ~(O_ACCMODE | O_PATH)) | mode;
		}
		s->have_args = can_read(s->args.flags);
	}

	if (ctx->ret < 0) {
		/* no file, only the name the caller passed */
		if (!s->have_args || !s->args.filename)
			return 0;
		fill_args(s, &s->args, ctx->ret);
		report_name(ctx, s, (struct task_struct *)bpf_get_current_task(), s->args.filename);
		return 0;
	}

	if (s->have_args) {
		struct file *opened = s->file;

		/*
		 * through map memory, so that the verifier sees one parent
		 * however many mounts were climbed, and walks what follows once
		 */
		*(volatile __u64 *)&s->parent = (__u64)mounted_parent(opened, s->parent);
		parent = (struct dentry *)*(volatile __u64 *)&s->parent;
		pname = BPF_CORE_READ(parent, d_name);
		if (prefilter((const char *)s->file_name, s->file_name_len,
			      (const char *)pname.name, pname.len)) {
			fill_args(s, &s->args, ctx->ret);
			report_file(ctx, s, s->file, s->dentry);
		}
	}
	if (cfg.has_handoff &&
	    filter_has(BT_FILTER_HANDOFF, (const char *)s->file_name, 0, s->file_name_len))
		bpf_tail_call(ctx, &open_exit_chain, 0);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} open_stages SEC(".maps") = {
    .values = {[0] = (void *)&open_slow},
};

/*
 * The first stage, which every open on the host runs: find the file, read
 * its names, test their signatures. Most opens end here.
 */
static __always_inline int finish_open(struct syscall_exit_ctx *ctx)
{
	struct dentry_names names = {};
	struct dentry *dentry;
	struct scratch *s;
	struct file *f;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	if (!cfg.args_at_exit) {
		/* the entry program kept the arguments of readable opens by others */
		__u64 id = bpf_get_current_pid_tgid();
		struct pending_open *p = bpf_map_lookup_elem(&pending, &id);

		s->have_args = p != NULL;
		if (p) {
			s->args = *p;
			bpf_map_delete_elem(&pending, &id);
		}
	}
	/* with cfg.args_at_exit the second stage reads them itself */
	if (ctx->ret < 0) {
		bpf_tail_call(ctx, &open_stages, 0);
		return 0;
	}

	f = opened_file(s, (__u32)ctx->ret);
	if (!f) {
		/*
		 * the open succeeded and its descriptor is already gone: another
		 * thread closed (or moved) it before the call returned. Which
		 * file it was is unknown; count it rather than pass over it.
		 */
		count(BT_CNT_DROP_UNREADABLE);
		return 0;
	}
	dentry = BPF_CORE_READ(f, f_path.dentry);
	if (!dentry)
		return 0;
	read_names(dentry, s->view, &names);
	if (!sig_check(&names, s->view))
		return 0;
	s->file = f;
	s->dentry = dentry;
	s->parent = names.parent;
	s->file_name = names.name;
	s->file_name_len = names.len;
	bpf_tail_call(ctx, &open_stages, 0);
	return 0;
}

/* open_by_handle_at(mount_fd, handle, flags): no name, but a file on success */
SEC("tracepoint/syscalls/sys_enter_open_by_handle_at")
int enter_open_by_handle_at(struct syscall_enter_ctx *ctx)
{
	return remember_open(0, (__u32)ctx->args[2], (__s32)ctx->args[0], BT_SYS_OPEN_BY_HANDLE_AT);
}

/*
 * One program for the exit of every open: the entry side noted which call it
 * was. It is loaded once and attached to sys_exit_open, sys_exit_openat2 and
 * sys_exit_open_by_handle_at as well (probes/file.py), so the verifier walks
 * its path walk once instead of four times, which is most of start-up.
 */
SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct syscall_exit_ctx *ctx)
{
	return finish_open(ctx);
}
