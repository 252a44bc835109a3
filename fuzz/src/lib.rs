//! Fuzz targets for everything Periscope parses from outside the process:
//! probe frames (the app's [`StreamDecoder`] and [`Codec`], and the probe's
//! decoding of app messages), deltas applied to the app's store and
//! rendered, the sock_diag and conntrack netlink parsers, and the /proc and
//! cgroup text parsers.
//!
//! Each target is a plain function of the input bytes that must never
//! panic, whatever the bytes. The coverage-guided binaries in
//! `fuzz_targets/` (libFuzzer, built by `fuzz/run.sh`) call them; `cargo
//! test` replays the committed corpus and every crash kept in
//! `fuzz/regressions/` through them (`tests/corpus.rs`). docs/fuzzing.md
//! says how to run them longer.

use periscope::store::Store;
use periscope_probe::collect::socket::{proc_net, sock_diag};
use periscope_probe::collect::{cgroup, conntrack, host, process, redact};
use periscope_probe::sys::netlink;
use periscope_report::{AppMessage, Codec, Delta, ProbeMessage, Protocol, Report, StreamDecoder};
use procfs::process::MountInfos;
use procfs::{FromRead, ProcessCGroups};

/// The decoded-size limit in the targets: small, so a bomb costs microseconds.
const LIMIT: usize = 1024 * 1024;

/// Splits `data` into frames, each prefixed with its length (two bytes, little-endian).
pub fn frames(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (length, after) = rest.split_first_chunk::<2>()?;
        let length = usize::from(u16::from_le_bytes(*length)).min(after.len());
        let (frame, next) = after.split_at(length);
        rest = next;
        Some(frame)
    })
}

/// Joins frames the way [`frames`] splits them (for seeds and regression tests).
pub fn join_frames<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        let length = u16::try_from(frame.len()).expect("a seed frame under 64 KiB");
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(frame);
    }
    out
}

/// The app's probe channel: frames in order on one stream decoder, each
/// snapshot or delta checked as the app checks it; and every frame as the
/// probe decodes the app's messages.
pub fn frame_decoder(data: &[u8]) {
    let Ok(mut decoder) = StreamDecoder::new(Codec::with_limit(LIMIT)) else { return };
    for frame in frames(data) {
        match decoder.decode::<ProbeMessage>(frame) {
            Ok(ProbeMessage::Snapshot(report)) => {
                let _checked = periscope::validate::report(&report, 50_000);
            }
            Ok(ProbeMessage::Delta(delta)) => {
                let _checked = periscope::validate::delta(&delta, 50_000);
            }
            Ok(_) | Err(_) => {}
        }
        let _app_message = Codec::with_limit(LIMIT).decode::<AppMessage>(frame);
    }
}

/// A report and deltas (postcard, one after the other) through the app's
/// store as a probe's frames go: validated, inserted, applied, rendered.
pub fn delta_apply(data: &[u8]) {
    let Ok((report, mut rest)) = postcard::take_from_bytes::<Report>(data) else { return };
    if periscope::validate::report(&report, 2_000).is_err() {
        return;
    }
    let mut copy = report.clone();
    let mut store = Store::default();
    store.insert_snapshot(report, periscope_report::UnixMillis(1));
    store.flush();
    let mut now = 1;
    while let Ok((delta, next)) = postcard::take_from_bytes::<Delta>(rest) {
        rest = next;
        now += 1000;
        if periscope::validate::delta(&delta, 2_000).is_err() {
            continue;
        }
        let _applied = periscope_report::apply(&mut copy, delta.clone());
        store.apply_delta(delta, periscope_report::UnixMillis(now));
        store.flush();
    }
}

/// One sock_diag datagram: its netlink messages, each as an INET_DIAG answer.
pub fn sock_diag(data: &[u8]) {
    for message in netlink::messages(data) {
        let _tcp = sock_diag::parse_diag_message(message.payload, Protocol::Tcp);
        let _udp = sock_diag::parse_diag_message(message.payload, Protocol::Udp);
        let _error = netlink::error_code(message.payload);
        for (_kind, _value) in netlink::attributes(message.payload) {}
    }
    let _bare = sock_diag::parse_diag_message(data, Protocol::Tcp);
}

/// One conntrack datagram (dump answer or event), and a bare message body
/// whose type is the first two bytes.
pub fn conntrack(data: &[u8]) {
    for message in netlink::messages(data) {
        let _event = conntrack::parse_message(message.kind, message.payload);
    }
    if let Some((kind, payload)) = data.split_first_chunk::<2>() {
        let _event = conntrack::parse_message(u16::from_ne_bytes(*kind), payload);
    }
}

/// The /proc, cgroup and host text parsers; the first byte picks one.
pub fn proc_parsers(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(bytes);
    match which % 16 {
        0 => drop(process::parse_stat(&text)),
        1 => drop(process::parse_cmdline(bytes)),
        2 => drop(process::parse_passwd(&text)),
        3 => drop(process::namespace_inode(&text)),
        4 => {
            let mut sockets = Vec::new();
            let _tcp = proc_net::parse_table(bytes, Protocol::Tcp, &mut sockets);
            let _udp = proc_net::parse_table(bytes, Protocol::Udp, &mut sockets);
        }
        5 => drop(ProcessCGroups::from_read(bytes).map(cgroup::CgroupPaths::from)),
        6 => drop(cgroup::container_id_in_path(&text)),
        7 => drop(MountInfos::from_read(bytes).map(cgroup::CgroupMounts::from)),
        8 => drop(cgroup::parse_net_dev(&text)),
        9 => drop(cgroup::parse_cpu_stat_usage_usec(&text)),
        10 => drop(cgroup::parse_memory_limit(&text)),
        11 => drop(host::parse_loadavg(&text)),
        12 => drop((host::parse_loadavg(&text), host::parse_uptime(&text))),
        13 => drop((host::parse_cpu_times(&text), host::parse_meminfo(&text))),
        14 => {
            let mut args: Vec<String> = text.split('\0').map(str::to_owned).collect();
            redact::redact_args(&mut args);
        }
        _ => drop(redact::redact_command(&text)),
    }
}
