//! Writes the seed corpora (`fuzz/corpus/<target>/seed-*`) from report
//! fixtures and `probe/testdata`: `cargo run -p periscope-fuzz --bin periscope-fuzz-seeds`.
//! The seeds are committed; run this again when the wire format changes.

use std::path::{Path, PathBuf};

use periscope_fuzz::join_frames;
use periscope_probe::sys::netlink;
use periscope_report::fixtures::ReportBuilder;
use periscope_report::{diff, AppMessage, Codec, ProbeMessage, Report, SnapshotReason, StreamEncoder};

fn report(seq: u64, cpu: f64) -> Report {
    let mut report = ReportBuilder::new("seed")
        .seq(seq)
        .interface("eth0", "10.0.0.1/24")
        .container("c1", "web", "nginx", "172.17.0.2")
        .container("c2", "db", "postgres", "172.17.0.3")
        .process(10, "nginx", Some("c1"))
        .process(20, "postgres", Some("c2"))
        .process(30, "sshd", None)
        .tcp(4026532000, Some(10), "172.17.0.2:80", None)
        .tcp(4026532001, Some(20), "172.17.0.3:40000", Some("172.17.0.2:80"))
        .conntrack("172.17.0.3:40000", "10.0.0.1:8080", "172.17.0.2:80")
        .build();
    report.host.cpu_percent = cpu;
    report
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn diag_message(family: u8, state: u8, local: &[u8], lport: u16, remote: &[u8], rport: u16) -> Vec<u8> {
    let mut payload = vec![0u8; 72];
    payload[0] = family;
    payload[1] = state;
    payload[4..6].copy_from_slice(&lport.to_be_bytes());
    payload[6..8].copy_from_slice(&rport.to_be_bytes());
    payload[8..8 + local.len()].copy_from_slice(local);
    payload[24..24 + remote.len()].copy_from_slice(remote);
    payload[68..72].copy_from_slice(&555u32.to_ne_bytes());
    let mut info = vec![0u8; 232];
    info[68..72].copy_from_slice(&1234u32.to_ne_bytes());
    payload.extend_from_slice(&((info.len() + 4) as u16).to_ne_bytes());
    payload.extend_from_slice(&2u16.to_ne_bytes());
    payload.extend_from_slice(&info);
    payload
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let testdata = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../probe/testdata");
    let codec = Codec::default();
    let (first, second, third) = (report(1, 5.0), report(2, 7.5), report(3, 7.5));

    let mut encoder = StreamEncoder::new().unwrap();
    let frames = [
        encoder.encode(&codec, &ProbeMessage::Snapshot(first.clone())).unwrap(),
        encoder.encode(&codec, &ProbeMessage::Delta(diff(&first, &second))).unwrap(),
        encoder.encode(&codec, &ProbeMessage::Delta(diff(&second, &third))).unwrap(),
        codec
            .encode(&AppMessage::RequestSnapshot { reason: SnapshotReason::SequenceGap { expected: 3, got: 5 } })
            .unwrap(),
        codec
            .encode(&ProbeMessage::PipeClosed { pipe: periscope_report::PipeId(1), reason: Some("\0".repeat(4096)) })
            .unwrap(),
    ];
    write(&root.join("frame_decoder"), "seed-stream", &join_frames(frames.iter().map(Vec::as_slice)));
    write(&root.join("frame_decoder"), "seed-snapshot", &join_frames([frames[0].as_slice()]));

    let mut chain = postcard::to_stdvec(&first).unwrap();
    chain.extend(postcard::to_stdvec(&diff(&first, &second)).unwrap());
    let mut gone = second.clone();
    gone.containers = Default::default();
    gone.seq = 3;
    chain.extend(postcard::to_stdvec(&diff(&second, &gone)).unwrap());
    write(&root.join("delta_apply"), "seed-chain", &chain);

    let mut datagram = Vec::new();
    let tcp = diag_message(2, 1, &[10, 0, 0, 1], 40000, &[10, 0, 0, 2], 80);
    netlink::push_message(&mut datagram, 20, 2, 1, &tcp);
    let tcp6 = diag_message(10, 10, &std::net::Ipv6Addr::LOCALHOST.octets(), 8080, &[0; 16], 0);
    netlink::push_message(&mut datagram, 20, 2, 1, &tcp6);
    netlink::push_message(&mut datagram, 3, 2, 1, &0i32.to_ne_bytes());
    write(&root.join("sock_diag"), "seed-dump", &datagram);

    write(&root.join("conntrack"), "seed-new", &std::fs::read(testdata.join("conntrack_new.bin")).unwrap());

    let texts: [(u8, &str); 10] = [
        (0, "proc_stat_kthread.txt"),
        (4, "proc_net_tcp.txt"),
        (4, "proc_net_tcp6.txt"),
        (4, "proc_net_udp.txt"),
        (5, "proc_cgroup_v1.txt"),
        (5, "proc_cgroup_v2.txt"),
        (7, "mountinfo_v1.txt"),
        (7, "mountinfo_v2.txt"),
        (8, "proc_net_dev.txt"),
        (1, "proc_cgroup_v1.txt"),
    ];
    for (which, file) in texts {
        let mut seed = vec![which];
        seed.extend(std::fs::read(testdata.join(file)).unwrap());
        write(&root.join("proc_parsers"), &format!("seed-{which}-{file}"), &seed);
    }
    for (which, text) in [
        (1u8, "/usr/bin/app\0--token\0s3cret\0"),
        (2, "root:x:0:0:root:/root:/bin/bash\nwww:x:33:33::/var/www:/usr/sbin/nologin\n"),
        (3, "net:[4026531840]"),
        (9, "usage_usec 123456\nuser_usec 1\n"),
        (10, "max\n"),
        (11, "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
        (12, "0.52 0.58 0.59 1/467 12345\n"),
        (13, "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0\nMemTotal: 16 kB\nMemAvailable: 8 kB\n"),
        (14, "psql\0postgres://user:pw@db/x\0API_KEY=abc\0"),
        (15, "curl -H 'Authorization: Bearer abc' --password=x https://u:p@h/"),
    ] {
        let mut seed = vec![which];
        seed.extend_from_slice(text.as_bytes());
        write(&root.join("proc_parsers"), &format!("seed-{which}"), &seed);
    }
}
