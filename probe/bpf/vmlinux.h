/* The few kernel types the tracer reads, written by hand.
 *
 * Every struct carries preserve_access_index, so clang records each field
 * access as a CO-RE relocation by name and the loader (aya) fixes the offsets
 * against the running kernel's BTF (/sys/kernel/btf/vmlinux). Only the fields
 * used are declared, flat: the loader finds a field inside the kernel's
 * anonymous unions by name. Committing this instead of a `bpftool btf dump`
 * of the build machine's kernel keeps the build independent of the kernel it
 * happens to run on (and of bpftool), and keeps the file reviewable.
 */
#ifndef PERISCOPE_VMLINUX_H
#define PERISCOPE_VMLINUX_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_RINGBUF = 27,
};


enum {
	BPF_RB_NO_WAKEUP = 1,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

/* Read whole: the kernel's is a union of arrays (s6_addr is a macro, not a field). */
struct in6_addr {
	__u8 bytes[16];
};

struct ns_common {
	unsigned int inum;
};

struct net {
	struct ns_common ns;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	int sk_err;
	__u16 sk_protocol;
};

struct tcp_sock {
	__u32 srtt_us;
	__u32 total_retrans;
	__u64 bytes_received;
	__u64 bytes_acked;
};

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	__u64 start_boottime;
	char comm[16];
};

#pragma clang attribute pop

#endif
