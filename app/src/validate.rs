//! Checks on what a probe sent, made before it reaches the store: IDs
//! non-empty and well formed (an empty container ID made a node whose
//! details answered 404), a delta's sequence number moving forward, and the
//! entities one probe may report capped, so a 100,000-container snapshot is
//! refused on the connection's own task, never rendered on the store thread.
//!
//! Pure functions of the frame (and, for a delta, of the entity count the
//! store holds for the probe); the caller decides what to answer.

use periscope_report::{Delta, Report};

use crate::limits::Refusal;

/// Longest text ID accepted (Docker's IDs are 64 hex digits plus a prefix; host names are ≤ 253).
pub const MAX_ID_LEN: usize = 512;

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("{count} entities, over the app's limit of {cap} per probe (--max-entities-per-probe)")]
    TooManyEntities { count: usize, cap: usize },
    #[error("a delta's sequence number must move forward: seq {seq} after base {base}")]
    SequenceBackwards { base: u64, seq: u64 },
    #[error("empty {0} ID")]
    EmptyId(&'static str),
    #[error("{kind} ID {id:?} is malformed: {reason}")]
    MalformedId { kind: &'static str, id: String, reason: &'static str },
}

impl Invalid {
    /// The counter it is reported under.
    pub fn refusal(&self) -> Refusal {
        match self {
            Invalid::TooManyEntities { .. } => Refusal::TooManyEntities,
            Invalid::SequenceBackwards { .. } => Refusal::SequenceBackwards,
            Invalid::EmptyId(_) | Invalid::MalformedId { .. } => Refusal::InvalidId,
        }
    }
}

/// Entities a report holds (what a render's cost grows with), traced flows included.
pub fn entities(report: &Report) -> usize {
    report.processes.len()
        + report.containers.len()
        + report.images.len()
        + report.sockets.len()
        + report.connections.len()
        + report.traced.len()
}

/// Entities a delta may add at most (its upserts).
pub fn upserts(delta: &Delta) -> usize {
    delta.processes.upserts.len()
        + delta.containers.upserts.len()
        + delta.images.upserts.len()
        + delta.sockets.upserts.len()
        + delta.connections.upserts.len()
        + delta.traced.upserts.len()
}

fn text_id(kind: &'static str, id: &str) -> Result<(), Invalid> {
    if id.is_empty() {
        return Err(Invalid::EmptyId(kind));
    }
    let malformed = |reason| Invalid::MalformedId { kind, id: id.chars().take(80).collect(), reason };
    if id.len() > MAX_ID_LEN {
        return Err(malformed("longer than 512 bytes"));
    }
    if id.chars().any(char::is_control) {
        return Err(malformed("contains control characters"));
    }
    if id.trim() != id {
        return Err(malformed("starts or ends with white space"));
    }
    Ok(())
}

fn process(process: &periscope_report::Process) -> Result<(), Invalid> {
    text_id("host", process.id.host.as_str())?;
    if process.id.pid == 0 {
        return Err(Invalid::MalformedId { kind: "process", id: process.id.to_string(), reason: "pid 0" });
    }
    if let Some(container) = &process.container {
        text_id("container", container.as_str())?;
    }
    Ok(())
}

fn container(container: &periscope_report::Container) -> Result<(), Invalid> {
    text_id("container", container.id.as_str())?;
    text_id("image", container.image.as_str())
}

/// A snapshot: its size under `cap`, then every ID.
pub fn report(report: &Report, cap: usize) -> Result<(), Invalid> {
    let count = entities(report);
    if count > cap {
        return Err(Invalid::TooManyEntities { count, cap });
    }
    text_id("probe", report.probe.as_str())?;
    text_id("host", report.host.id.as_str())?;
    report.processes.iter().try_for_each(process)?;
    report.containers.iter().try_for_each(container)?;
    report.images.iter().try_for_each(|image| text_id("image", image.id.as_str()))
}

/// A delta on its own: the sequence moves forward, its upserts alone stay under `cap`, every ID.
pub fn delta(delta: &Delta, cap: usize) -> Result<(), Invalid> {
    if delta.seq <= delta.base_seq {
        return Err(Invalid::SequenceBackwards { base: delta.base_seq, seq: delta.seq });
    }
    let count = upserts(delta);
    if count > cap {
        return Err(Invalid::TooManyEntities { count, cap });
    }
    text_id("probe", delta.probe.as_str())?;
    if let Some(host) = &delta.host {
        text_id("host", host.id.as_str())?;
    }
    delta.processes.upserts.iter().try_for_each(process)?;
    delta.containers.upserts.iter().try_for_each(container)?;
    delta.images.upserts.iter().try_for_each(|image| text_id("image", image.id.as_str()))?;
    delta.container_stats.iter().try_for_each(|(id, _)| text_id("container", id.as_str()))
}

/// A delta against the report the store holds: at most `cap` entities after it.
pub fn delta_fits(held: usize, delta: &Delta, cap: usize) -> Result<(), Invalid> {
    let count = held + upserts(delta);
    if count > cap {
        return Err(Invalid::TooManyEntities { count, cap });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use periscope_report::fixtures::ReportBuilder;
    use periscope_report::{diff, ContainerId, HostId, ProbeId};

    use super::*;

    fn check(report: Report, expected: Result<(), Invalid>) {
        assert_eq!(super::report(&report, 100), expected);
    }

    #[test]
    fn reports_with_good_ids_pass() {
        check(
            ReportBuilder::new("h")
                .container("c1", "web", "img", "172.17.0.2")
                .process(10, "nginx", Some("c1"))
                .build(),
            Ok(()),
        );
    }

    #[test]
    fn empty_and_malformed_ids_are_refused() {
        let mut report = ReportBuilder::new("h").container("c1", "web", "img", "172.17.0.2").build();
        report.probe = ProbeId::new("");
        check(report, Err(Invalid::EmptyId("probe")));

        let mut report = ReportBuilder::new("h").build();
        report.host.id = HostId::new("");
        check(report, Err(Invalid::EmptyId("host")));

        let report = ReportBuilder::new("h").container("", "web", "img", "172.17.0.2").build();
        check(report, Err(Invalid::EmptyId("container")));

        let report = ReportBuilder::new("h").container("c\n1", "web", "img", "172.17.0.2").build();
        assert!(matches!(super::report(&report, 100), Err(Invalid::MalformedId { kind: "container", .. })));

        let report = ReportBuilder::new("h").container(&"c".repeat(MAX_ID_LEN + 1), "web", "img", "172.17.0.2").build();
        assert!(matches!(super::report(&report, 100), Err(Invalid::MalformedId { .. })));
    }

    #[test]
    fn reports_over_the_entity_cap_are_refused() {
        let mut builder = ReportBuilder::new("h");
        for i in 0..10 {
            builder = builder.container(&format!("c{i}"), "web", "img", "172.17.0.2");
        }
        let report = builder.build();
        let count = entities(&report);
        assert!(count >= 10);
        assert_eq!(super::report(&report, count), Ok(()));
        assert_eq!(super::report(&report, count - 1), Err(Invalid::TooManyEntities { count, cap: count - 1 }));
    }

    #[test]
    fn deltas_must_move_forward_and_fit() {
        let before = ReportBuilder::new("h").seq(4).container("c1", "web", "img", "172.17.0.2").build();
        let after = ReportBuilder::new("h")
            .seq(5)
            .container("c1", "web", "img", "172.17.0.2")
            .container("c2", "db", "img", "172.17.0.2")
            .build();
        let forward = diff(&before, &after);
        assert_eq!(delta(&forward, 100), Ok(()));
        let mut backwards = forward.clone();
        backwards.seq = 3;
        assert_eq!(delta(&backwards, 100), Err(Invalid::SequenceBackwards { base: 4, seq: 3 }));
        let mut same = forward.clone();
        same.seq = 4;
        assert!(delta(&same, 100).is_err());
        assert_eq!(delta_fits(entities(&before), &forward, entities(&after)), Ok(()));
        assert!(delta_fits(entities(&before), &forward, entities(&before)).is_err());
        let mut empty = forward;
        empty.container_stats.push((ContainerId::new(""), None));
        assert_eq!(delta(&empty, 100), Err(Invalid::EmptyId("container")));
    }
}
