//! Compiles the eBPF connection tracer (`bpf/connections.bpf.c`) with clang,
//! for the probe to embed. Without clang (or libbpf's headers) the probe
//! still builds, without the tracer: it then reports the eBPF source as
//! unavailable and uses /proc, sock_diag and conntrack alone.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(periscope_ebpf)");
    println!("cargo::rerun-if-changed=bpf/connections.bpf.c");
    println!("cargo::rerun-if-changed=bpf/vmlinux.h");
    println!("cargo::rerun-if-env-changed=PERISCOPE_CLANG");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("connections.bpf.o");
    let clang = std::env::var("PERISCOPE_CLANG").unwrap_or_else(|_| "clang".to_owned());
    let status = Command::new(&clang)
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror", "-Ibpf", "-c"])
        .arg("bpf/connections.bpf.c")
        .arg("-o")
        .arg(&object)
        .status();
    match status {
        Ok(status) if status.success() => println!("cargo::rustc-cfg=periscope_ebpf"),
        Ok(status) => {
            println!("cargo::warning=building the eBPF tracer failed ({status}); the probe is built without it")
        }
        Err(error) => println!("cargo::warning=no {clang} ({error}): the probe is built without the eBPF tracer"),
    }
}
