//! Which conntrack flows the probe reads: all of them, or, while the eBPF
//! tracer runs, only those it does not count itself.
//!
//! The tracer counts every TCP connection of this host at its process, with
//! how it ended (`collect::ebpf`), and the app draws a conntrack flow only when
//! nothing else saw its client or server (`app/src/render/resolve.rs`). So with
//! the tracer, conntrack's record of a TCP flow it did not NAT repeats what
//! the traced flows say; a NATed one (a published port) still says where the
//! connection really went, and UDP is conntrack's alone. At 100 containers the
//! repeats were most of the host's events (hundreds a second), each one
//! copied to the probe, parsed and folded: about a twentieth of the eBPF-on
//! probe's CPU. A classic BPF filter on the event socket drops them in the
//! kernel before they are queued; `table.rs` filters dumps, and events again
//! as it reads them, by the same test (`Wanted::keeps`).

use periscope_report::Protocol;

/// Conntrack status bits (include/uapi/linux/netfilter/nf_conntrack_common.h).
const IPS_SRC_NAT: u32 = 1 << 4;
const IPS_DST_NAT: u32 = 1 << 5;

/// Message layout: a ctnetlink event is one netlink message per datagram, its
/// attributes after the 16-byte `nlmsghdr` and 4-byte `nfgenmsg`.
const ATTRIBUTES_AT: u32 = 16 + 4;
const CTA_TUPLE_ORIG: u32 = 1;
const CTA_STATUS: u32 = 3;
const CTA_TUPLE_PROTO: u32 = 2;
const CTA_PROTO_NUM: u32 = 1;
const IPPROTO_TCP: u32 = 6;

/// The flows a conntrack reader keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wanted {
    /// Every flow: without the tracer, conntrack is where short-lived and failed connections show.
    #[default]
    All,
    /// Flows the tracer does not count: not TCP, or NATed.
    Untraced,
}

impl Wanted {
    /// Whether a flow of `protocol` with conntrack's `status` bits (when known) is read.
    pub fn keeps(self, protocol: Protocol, status: Option<u32>) -> bool {
        match self {
            Wanted::All => true,
            Wanted::Untraced => {
                protocol != Protocol::Tcp || status.is_none_or(|status| status & (IPS_SRC_NAT | IPS_DST_NAT) != 0)
            }
        }
    }

    /// The socket filter that keeps the same events in the kernel; `None` for every flow.
    pub fn program(self) -> Option<Vec<libc::sock_filter>> {
        match self {
            Wanted::All => None,
            Wanted::Untraced => Some(untraced_program()),
        }
    }
}

/// Accepts a message unless it is a TCP flow whose status has no NAT bit. Anything that does
/// not parse as such (no status, no tuple, another message type) is accepted, so the reader's
/// own parser still sees it.
fn untraced_program() -> Vec<libc::sock_filter> {
    const LD_IMM: u16 = (libc::BPF_LD | libc::BPF_IMM) as u16;
    const LDX_IMM: u16 = (libc::BPF_LDX | libc::BPF_IMM) as u16;
    const LD_ANCILLARY: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const LD_WORD_AT_X: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_IND) as u16;
    const LD_BYTE_AT_X: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_IND) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
    const TAX: u16 = (libc::BPF_MISC | libc::BPF_TAX) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    // The kernel's attribute search: A = offset of the attribute of type X found from offset A
    // (NLATTR) or inside the attribute at offset A (NLATTR_NEST); 0 when there is none.
    const NLATTR: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_NLATTR) as u32;
    const NLATTR_NEST: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_NLATTR_NEST) as u32;
    let op = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    // A jump's offsets count the instructions skipped, from the one after it.
    const ACCEPT: usize = 20;
    const DROP: usize = 21;
    let to = |at: usize, target: usize| (target - at - 1) as u8;
    let program = vec![
        /* 0 */ op(LD_IMM, 0, 0, ATTRIBUTES_AT),
        /* 1 */ op(LDX_IMM, 0, 0, CTA_STATUS),
        /* 2 */ op(LD_ANCILLARY, 0, 0, NLATTR),
        /* 3 */ op(JEQ, to(3, ACCEPT), 0, 0),
        /* 4 */ op(TAX, 0, 0, 0),
        // The status, big-endian as the message carries it and as the load reads it.
        /* 5 */
        op(LD_WORD_AT_X, 0, 0, 4),
        /* 6 */ op(JSET, to(6, ACCEPT), 0, IPS_SRC_NAT | IPS_DST_NAT),
        /* 7 */ op(LD_IMM, 0, 0, ATTRIBUTES_AT),
        /* 8 */ op(LDX_IMM, 0, 0, CTA_TUPLE_ORIG),
        /* 9 */ op(LD_ANCILLARY, 0, 0, NLATTR),
        /* 10 */ op(JEQ, to(10, ACCEPT), 0, 0),
        /* 11 */ op(LDX_IMM, 0, 0, CTA_TUPLE_PROTO),
        /* 12 */ op(LD_ANCILLARY, 0, 0, NLATTR_NEST),
        /* 13 */ op(JEQ, to(13, ACCEPT), 0, 0),
        /* 14 */ op(LDX_IMM, 0, 0, CTA_PROTO_NUM),
        /* 15 */ op(LD_ANCILLARY, 0, 0, NLATTR_NEST),
        /* 16 */ op(JEQ, to(16, ACCEPT), 0, 0),
        /* 17 */ op(TAX, 0, 0, 0),
        /* 18 */ op(LD_BYTE_AT_X, 0, 0, 4),
        /* 19 */ op(JEQ, to(19, DROP), to(19, ACCEPT), IPPROTO_TCP),
        /* 20 */ op(RET, 0, 0, u32::MAX),
        /* 21 */ op(RET, 0, 0, 0),
    ];
    debug_assert_eq!(program.len(), DROP + 1);
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untraced_keeps_what_the_tracer_does_not_count() {
        let seen_reply = Some(1 << 1);
        assert!(!Wanted::Untraced.keeps(Protocol::Tcp, seen_reply), "TCP, not NATed: traced");
        assert!(Wanted::Untraced.keeps(Protocol::Tcp, Some(IPS_DST_NAT | 1 << 1)), "a published port");
        assert!(Wanted::Untraced.keeps(Protocol::Tcp, Some(IPS_SRC_NAT)), "masqueraded");
        assert!(Wanted::Untraced.keeps(Protocol::Udp, seen_reply), "UDP is not traced");
        assert!(Wanted::Untraced.keeps(Protocol::Tcp, None), "unknown status: kept");
        assert!(Wanted::All.keeps(Protocol::Tcp, seen_reply));
        assert!(Wanted::All.program().is_none());
    }
}
