//! The probe's plumbing beneath the collectors: files held open and re-read
//! ([`held`]), where procfs is ([`proc_root`]), netlink framing shared by
//! sock_diag and conntrack ([`netlink`]), work inside another network
//! namespace ([`netns`]), and randomness ([`random`]).
//!
//! Nothing here knows of reports, collectors or the app: `sys` imports no
//! other module of the probe, so everything can import it without a circle.

pub mod held;
pub mod netlink;
pub mod netns;
pub mod proc_root;
pub mod random;
