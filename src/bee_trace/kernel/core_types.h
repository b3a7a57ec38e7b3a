/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The few kernel types bee-trace reads, declared for CO-RE.
 *
 * Only the fields read are declared. preserve_access_index makes clang emit a
 * relocation for every access, and libbpf rewrites the offsets against the
 * running kernel's BTF at load time, so the layout here never has to match
 * any particular kernel. This spares the build a generated vmlinux.h.
 */
#ifndef BEE_TRACE_CORE_TYPES_H
#define BEE_TRACE_CORE_TYPES_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct qstr {
	__u32 len;
	const unsigned char *name;
};

struct super_block;

/* Linux 6.14 and later keep a short name in this union */
union shortname_store {
	unsigned char string[40];
};

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct super_block *d_sb;
	/* a name shorter than this array is stored in it: d_iname before 6.14 */
	unsigned char d_iname[32];
	union shortname_store d_shortname;
};

struct vfsmount {
	struct dentry *mnt_root;
};

/* fs/mount.h: private to the kernel, but present in its BTF */
struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct super_block {
	__u32 s_dev;
	unsigned long s_magic;
	struct dentry *s_root;
};

struct inode {
	unsigned long i_ino;
	struct super_block *i_sb;
};

struct file {
	struct path f_path;
	unsigned int f_flags;
	struct inode *f_inode;
	void *private_data;
};

struct mm_struct {
	struct file *exe_file;
};

/* read whole by offset; a struct here so CO-RE matches it with the kernel's */
struct bt_in6_addr {
	__u8 bytes[16];
};

struct sock_common {
	unsigned short skc_family;
	__be32 skc_daddr;
	__be16 skc_dport;
	struct bt_in6_addr skc_v6_daddr;
};

struct sock {
	struct sock_common __sk_common;
	__u16 sk_type;
	__u16 sk_protocol;
};

struct socket {
	short type;
	struct file *file;
	struct sock *sk;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct upid {
	int nr;
	void *ns;
};

struct hlist_node {
	struct hlist_node *next;
};

struct hlist_head {
	struct hlist_node *first;
};

/* include/linux/pid.h */
struct pid {
	unsigned int level;
	struct hlist_head tasks[4];
	struct upid numbers[1];
};

/* fs/proc/internal.h: private to the kernel, but present in its BTF */
struct proc_inode {
	struct pid *pid;
	struct inode vfs_inode;
};

struct fs_struct {
	struct path root;
	struct path pwd;
};

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	struct files_struct *files;
	struct mm_struct *mm;
	struct fs_struct *fs;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	struct hlist_node pid_links[4];
};

struct open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

/*
 * The registers a task entered the kernel with, for a syscall's arguments at
 * its exit; SYSCALL_ARGn reads the nth. arm64 overwrites x0 with the return
 * value and keeps the first argument in orig_x0.
 */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	unsigned long r10;
	unsigned long r8;
	unsigned long r9;
};
#define SYSCALL_ARG1(r) ((r)->di)
#define SYSCALL_ARG2(r) ((r)->si)
#define SYSCALL_ARG3(r) ((r)->dx)
#define SYSCALL_ARG4(r) ((r)->r10)
#define SYSCALL_ARG5(r) ((r)->r8)
#define SYSCALL_ARG6(r) ((r)->r9)
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs {
	__u64 regs[31];
	__u64 orig_x0;
};
#define SYSCALL_ARG1(r) ((r)->orig_x0)
#define SYSCALL_ARG2(r) ((r)->regs[1])
#define SYSCALL_ARG3(r) ((r)->regs[2])
#define SYSCALL_ARG4(r) ((r)->regs[3])
#define SYSCALL_ARG5(r) ((r)->regs[4])
#define SYSCALL_ARG6(r) ((r)->regs[5])
#endif

#pragma clang attribute pop

#endif /* BEE_TRACE_CORE_TYPES_H */
