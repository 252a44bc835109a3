//! `probe-host-bench`: what one tick's host facts (CPU share, memory, load,
//! uptime, hostname) cost read by the probe's held files against sysinfo's
//! refreshes of the same facts, so the choice in `collect/host.rs` rests on
//! a measurement (BENCHMARKS.md). Reads only this host's /proc.
//!
//! Run: `cargo build --release -p periscope-probe --bins && target/release/probe-host-bench [TICKS]`.

use std::time::Instant;

use periscope_probe::collect::host::HostCollector;
use periscope_probe::collect::{empty_report, Collector, Pass};
use sysinfo::{MemoryRefreshKind, Networks, System};

fn main() -> anyhow::Result<()> {
    let ticks: u32 = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(20_000);
    println!("| per tick, {ticks} ticks | CPU (µs) | wall (µs) |");
    println!("| --- | --- | --- |");

    let mut held = HostCollector::new(periscope_report::HostId::new("bench"), Default::default());
    let mut report = empty_report(periscope_report::ProbeId::new("bench"), None);
    // Interfaces are read on the first pass only (every 10 s in the probe): leave them out of the loop.
    let now = Instant::now();
    held.collect(&mut Pass { now, report: &mut report, processes: Vec::new(), pids: Vec::new(), sources: Vec::new() });
    let (cpu, wall) = measure(ticks, || {
        held.collect(&mut Pass {
            now,
            report: &mut report,
            processes: Vec::new(),
            pids: Vec::new(),
            sources: Vec::new(),
        });
        std::hint::black_box(&report.host);
    })?;
    println!("| held files, parsed in place (the probe) | {cpu:.1} | {wall:.1} |");

    let mut system = System::new()?;
    system.refresh_cpu_usage();
    let (cpu, wall) = measure(ticks, || {
        system.refresh_cpu_usage();
        system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let facts = (
            system.global_cpu_usage(),
            system.used_memory(),
            system.total_memory(),
            System::load_average().ok(),
            System::uptime().ok(),
            System::host_name().ok(),
        );
        std::hint::black_box(facts);
    })?;
    println!("| sysinfo refreshes of the same facts | {cpu:.1} | {wall:.1} |");

    // Interfaces (every 10 s, and on Docker changes): sysinfo reads each one's statistics too.
    let count = Networks::new_with_refreshed_list()?.iter().count();
    let (cpu, wall) = measure(ticks / 100, || {
        std::hint::black_box(Networks::new_with_refreshed_list().map(|n| n.iter().count()).ok());
    })?;
    println!("| interfaces: sysinfo `Networks` list, {count} interfaces | {cpu:.1} | {wall:.1} |");
    Ok(())
}

/// (CPU µs, wall µs) per call of `tick`, CPU from this process's utime+stime.
fn measure(ticks: u32, mut tick: impl FnMut()) -> anyhow::Result<(f64, f64)> {
    let cpu_start = cpu_micros()?;
    let started = Instant::now();
    for _ in 0..ticks {
        tick();
    }
    let wall = started.elapsed().as_secs_f64() * 1e6 / f64::from(ticks);
    let cpu = (cpu_micros()? - cpu_start) / f64::from(ticks);
    Ok((cpu, wall))
}

fn cpu_micros() -> anyhow::Result<f64> {
    let stat = procfs::process::Process::myself()?.stat()?;
    let ticks_per_second = rustix::param::clock_ticks_per_second().max(1) as f64;
    Ok((stat.utime + stat.stime) as f64 / ticks_per_second * 1e6)
}
