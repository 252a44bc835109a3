// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/* Periscope's connection tracer: every TCP connection, counted in the kernel
 * per (process, peer), with its failures.
 *
 * One BTF tracepoint, sock:inet_sock_set_state, sees every TCP state change
 * with its socket. At CLOSE -> SYN_SENT the current task is the process
 * connecting; at SYN_RECV -> ESTABLISHED a connection was accepted (the
 * accepting process is the listener's owner, found in user space); at the
 * move to CLOSE the tcp_sock holds the smoothed RTT, bytes and retransmits,
 * and sk_err tells a refused connect (ECONNREFUSED) from one that got no
 * answer, and a reset from an orderly close. Nothing is sent to user space
 * per event: counters are added into `flows`, one entry per (process, netns,
 * local address, peer address, server port), which the probe reads and
 * prunes each tick. Maps are bounded; what does not fit is counted in
 * `overflow`, never silently lost.
 *
 * The same tracepoint also keeps, per network namespace, the number of TCP
 * sockets that entered the kernel's socket hash tables less those that left
 * them (`netns_tcp`): what the namespace's sockstat "TCP inuse" counters move
 * by. While it has not moved since the probe last read a namespace's
 * sockstat, the probe need not read it again (every connection since has come
 * and gone).
 *
 * Three scheduler tracepoints tell the probe which processes came, changed
 * program or went (`process_events`, a ring buffer the probe drains each
 * tick), so its process scan need not list /proc every tick: a process born
 * and gone between two ticks costs two 8-byte records and no system call.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define ECONNREFUSED 111
#define ECONNRESET 104
#define EPIPE 32

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_CLOSE_WAIT 8
#define TCP_LISTEN 10

/* Indexes into `overflow`. Keep in step with probe/src/collect/ebpf/tracer.rs. */
#define OVERFLOW_FLOWS 0
#define OVERFLOW_SOCKETS 1
#define OVERFLOW_PROCESS_EVENTS 2

/* The key of `netns_tcp` (no namespace has inode 0) under which its own
 * overflow is counted; the probe creates it at start, so it is never missing. */
#define NETNS_TCP_OVERFLOW 0

/* Keep both structs in step with probe/src/collect/ebpf/tracer.rs (repr(C)). */
struct flow_key {
	/* The owner's start (ns since boot) and pid; both 0 for accepted connections. */
	__u64 start_time;
	__u32 tgid;
	/* Inode of the socket's network namespace. */
	__u32 netns;
	/* IPv4 in the first 4 bytes, or IPv6. Outbound: ours, then the server's.
	 * Inbound: the listening address, then the client's. */
	__u8 local[16];
	__u8 remote[16];
	/* The server's port (theirs outbound, ours inbound). */
	__u16 port;
	__u8 family;
	__u8 inbound;
	__u32 pad;
};

struct flow_value {
	/* Connects started, or connections accepted. */
	__u64 attempts;
	__u64 established;
	/* Established connections that ended (resets included). */
	__u64 closed;
	/* Connects answered by a reset (or an ICMP error). */
	__u64 refused;
	/* Connects that ended with no answer (timed out, or abandoned by the process). */
	__u64 unanswered;
	/* Established connections ended by a reset, received or sent. */
	__u64 reset;
	__u64 retransmits;
	__u64 bytes_sent;
	__u64 bytes_received;
	/* Smoothed RTT at close, summed over `closed`. */
	__u64 rtt_us_sum;
	__u32 ppid;
	char comm[16];
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flows SEC(".maps");

/* Connects in flight, by socket address, so their close is counted under the
 * process that opened them (closes often run in softirq context). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct flow_key);
} sockets SEC(".maps");

/* Per network namespace inode: TCP sockets hashed less those unhashed since the
 * tracer started (negative when more that existed before it left). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __s64);
} netns_tcp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} overflow SEC(".maps");

/* What `process_events` says of a process (keep in step with tracer.rs). */
#define PROCESS_BORN 1
#define PROCESS_EXEC 2
#define PROCESS_GONE 3

struct process_event {
	__u32 pid;
	__u32 kind;
	/* When the task started (ns since boot): with the pid, which process this is. A free
	 * that comes after its pid was reused names the earlier owner; this tells them apart. */
	__u64 start;
};

/* 24 bytes a record (with the ring's header): 10,922 records between two reads. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} process_events SEC(".maps");

static __always_inline void count_overflow(__u32 index)
{
	__u64 *count = bpf_map_lookup_elem(&overflow, &index);
	if (count)
		__sync_fetch_and_add(count, 1);
}

static __always_inline void fill_addresses(struct flow_key *key, const struct sock *sk, __u16 family)
{
	key->family = family == AF_INET ? 4 : 6;
	if (family == AF_INET) {
		__be32 local = sk->__sk_common.skc_rcv_saddr;
		__be32 remote = sk->__sk_common.skc_daddr;
		__builtin_memcpy(key->local, &local, 4);
		__builtin_memcpy(key->remote, &remote, 4);
	} else {
		BPF_CORE_READ_INTO(&key->local, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&key->remote, sk, __sk_common.skc_v6_daddr);
	}
	key->netns = sk->__sk_common.skc_net.net->ns.inum;
}

/* The flow's counters, created when missing; NULL when the map is full. */
static __always_inline struct flow_value *flow_for(const struct flow_key *key, const struct flow_value *fresh)
{
	struct flow_value *value = bpf_map_lookup_elem(&flows, key);
	if (value)
		return value;
	if (bpf_map_update_elem(&flows, key, fresh, BPF_NOEXIST) != 0) {
		value = bpf_map_lookup_elem(&flows, key);
		if (!value)
			count_overflow(OVERFLOW_FLOWS);
		return value;
	}
	return bpf_map_lookup_elem(&flows, key);
}

static __always_inline void remember(__u64 id, const struct flow_key *key)
{
	if (bpf_map_update_elem(&sockets, &id, key, BPF_ANY) != 0)
		count_overflow(OVERFLOW_SOCKETS);
}

static __always_inline void on_connect(const struct sock *sk, __u16 family)
{
	struct flow_key key = {};
	struct flow_value fresh = {};
	struct task_struct *task = bpf_get_current_task_btf();

	key.tgid = task->tgid;
	key.start_time = task->group_leader->start_boottime;
	fill_addresses(&key, sk, family);
	key.port = __builtin_bswap16(sk->__sk_common.skc_dport);
	fresh.ppid = task->real_parent->tgid;
	bpf_get_current_comm(&fresh.comm, sizeof(fresh.comm));

	struct flow_value *flow = flow_for(&key, &fresh);
	if (flow)
		__sync_fetch_and_add(&flow->attempts, 1);
	remember((__u64)sk, &key);
}

static __always_inline void on_accept(const struct sock *sk, __u16 family)
{
	struct flow_key key = {};
	struct flow_value fresh = {};

	fill_addresses(&key, sk, family);
	key.port = sk->__sk_common.skc_num;
	key.inbound = 1;
	struct flow_value *flow = flow_for(&key, &fresh);
	if (flow) {
		__sync_fetch_and_add(&flow->attempts, 1);
		__sync_fetch_and_add(&flow->established, 1);
	}
	/* No per-socket entry: the close finds this flow again from the socket itself. */
}

static __always_inline void on_close(const struct sock *sk, int old, __u16 family)
{
	__u64 id = (__u64)sk;
	struct flow_key *entry = bpf_map_lookup_elem(&sockets, &id);
	struct flow_value *flow;
	/* Never established: a connect that ended in SYN_SENT (an accepted socket always was). */
	int established = old != TCP_SYN_SENT;
	if (entry) {
		struct flow_value fresh = {};
		flow = flow_for(entry, &fresh);
		/* Counted here rather than at SYN_SENT -> ESTABLISHED, which then needs no lookups:
		 * `established` only tells the probe that a flow moved. */
		if (flow && established)
			__sync_fetch_and_add(&flow->established, 1);
	} else {
		/* Not a connect the tracer saw: an accepted connection, whose flow the socket names
		 * (found, not made: a connection accepted before the tracer started, or a connect
		 * it never saw, has none). */
		struct flow_key key = {};
		fill_addresses(&key, sk, family);
		key.port = sk->__sk_common.skc_num;
		key.inbound = 1;
		flow = bpf_map_lookup_elem(&flows, &key);
	}
	/* Read through BTF, no helper call per field; never NULL for a TCP socket (the check is for the verifier). */
	const struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	int err = sk->sk_err;
	if (flow && tp) {
		__sync_fetch_and_add(&flow->retransmits, tp->total_retrans);
		if (!established) {
			if (err == ECONNREFUSED)
				__sync_fetch_and_add(&flow->refused, 1);
			else
				__sync_fetch_and_add(&flow->unanswered, 1);
		} else {
			__sync_fetch_and_add(&flow->closed, 1);
			__sync_fetch_and_add(&flow->bytes_sent, tp->bytes_acked);
			__sync_fetch_and_add(&flow->bytes_received, tp->bytes_received);
			__sync_fetch_and_add(&flow->rtt_us_sum, tp->srtt_us >> 3);
			/* An orderly close passes through FIN states; straight from
			 * ESTABLISHED or CLOSE_WAIT to CLOSE is an abort, ours or theirs. */
			if (err == ECONNRESET || err == EPIPE || old == TCP_ESTABLISHED || old == TCP_CLOSE_WAIT)
				__sync_fetch_and_add(&flow->reset, 1);
		}
	}
	if (entry)
		bpf_map_delete_elem(&sockets, &id);
}

/* A socket entered (`delta` 1) or left (-1) the hash tables sockstat counts. */
static __always_inline void count_hashed(const struct sock *sk, __s64 delta)
{
	__u32 netns = sk->__sk_common.skc_net.net->ns.inum;
	__s64 *count = bpf_map_lookup_elem(&netns_tcp, &netns);
	if (!count) {
		__s64 zero = 0;
		bpf_map_update_elem(&netns_tcp, &netns, &zero, BPF_NOEXIST);
		count = bpf_map_lookup_elem(&netns_tcp, &netns);
	}
	if (!count) {
		__u32 overflow_key = NETNS_TCP_OVERFLOW;
		count = bpf_map_lookup_elem(&netns_tcp, &overflow_key);
		delta = 1;
	}
	if (count)
		__sync_fetch_and_add(count, delta);
}

SEC("tp_btf/inet_sock_set_state")
int on_state_change(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	int old = (int)ctx[1];
	int new = (int)ctx[2];

	/* Most changes are steps nothing here counts (a connect answered, the FIN
	 * states of a close): leave before reading the socket. */
	if (new != TCP_CLOSE && new != TCP_SYN_SENT && old != TCP_CLOSE && !(old == TCP_LISTEN && new == TCP_SYN_RECV) &&
	    !(old == TCP_SYN_RECV && new == TCP_ESTABLISHED))
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	/* Hashed: leaving CLOSE (a connect, a listen), or a child socket made by a
	 * listener (LISTEN -> SYN_RECV, hashed as it is created); unhashed: CLOSE. */
	if (new == TCP_CLOSE)
		count_hashed(sk, -1);
	else if (old == TCP_CLOSE || (old == TCP_LISTEN && new == TCP_SYN_RECV))
		count_hashed(sk, 1);
	if (new == TCP_SYN_SENT)
		on_connect(sk, family);
	else if (new == TCP_ESTABLISHED && old == TCP_SYN_RECV)
		on_accept(sk, family);
	else if (new == TCP_CLOSE)
		on_close(sk, old, family);
	return 0;
}

static __always_inline void tell(const struct task_struct *task, __u32 kind)
{
	struct process_event *event = bpf_ringbuf_reserve(&process_events, sizeof(*event), 0);
	if (!event) {
		count_overflow(OVERFLOW_PROCESS_EVENTS);
		return;
	}
	event->pid = task->tgid;
	event->kind = kind;
	event->start = task->start_boottime;
	/* The probe drains the ring on its tick: no one to wake. */
	bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
}

/* A new process (a new thread of an existing one is not: its pid is not its tgid). */
SEC("tp_btf/sched_process_fork")
int on_fork(__u64 *ctx)
{
	const struct task_struct *child = (const struct task_struct *)ctx[1];
	if (child->pid == child->tgid)
		tell(child, PROCESS_BORN);
	return 0;
}

/* A new program in a process: its name and command line change. */
SEC("tp_btf/sched_process_exec")
int on_exec(__u64 *ctx)
{
	const struct task_struct *task = (const struct task_struct *)ctx[0];
	tell(task, PROCESS_EXEC);
	return 0;
}

/* A process's leader is freed only once the whole group is gone and reaped, so its
 * pid has left /proc. (At an exec from another thread the old leader is freed under
 * that thread's former id, which is not the tgid.) */
SEC("tp_btf/sched_process_free")
int on_free(__u64 *ctx)
{
	const struct task_struct *task = (const struct task_struct *)ctx[0];
	if (task->pid == task->tgid)
		tell(task, PROCESS_GONE);
	return 0;
}
