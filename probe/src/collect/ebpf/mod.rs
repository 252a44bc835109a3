//! The eBPF connection tracer as a probe source.

pub mod tracer;
