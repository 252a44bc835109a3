//! The app's allocator: jemalloc, set to give freed pages back at once.
//!
//! The app holds a big, slowly changing heap (every view's sums and shares,
//! about 800 MiB at 1,000 hosts) and rebuilds one host's shares among it on
//! every delta, beside short-lived buffers of up to 126 MiB (a full view's
//! JSON). glibc's arenas fragment under that: with 50 view clients the RSS
//! rose past 1 GiB over three minutes of deltas (1,064 MiB at 180 s) while
//! the live heap stayed flat, and no `malloc_trim` could return the holes.
//! jemalloc's size-class slabs keep small objects of one size together, and
//! with no decay it returns a freed page as soon as it is empty: the same
//! bench stayed at 965 MiB median, 985 MiB max (BENCHMARKS.md, "1,000 hosts,
//! every view kept, 50 clients"). mimalloc, also tried, settled at 1,025 MiB.
//!
//! Declared in the library so every binary that links it (the app, its
//! benches, the tests) runs on the allocator the figures were measured with.
//! The `jemalloc` feature (on by default) turns it off only for heap
//! profilers that hook `malloc`, such as heaptrack.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc reads its settings from this symbol at its first allocation
/// (`_RJEM_MALLOC_CONF` in the environment still overrides it):
/// - `dirty_decay_ms:0,muzzy_decay_ms:0`: a freed page goes back to the
///   kernel at once, not after the default 10 s of disuse; decay at 1 s left
///   the bench's RSS 20–30 MiB higher;
/// - `background_thread:true`: purging that is not immediate (a decay set
///   through `_RJEM_MALLOC_CONF`) runs on jemalloc's own thread, not in the
///   app's frees;
/// - `narenas:2`: the app's threads are the store thread, two or so runtime
///   workers and the blocking pool; more arenas would only keep more partly
///   used pages.
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: &u8 = &b"background_thread:true,dirty_decay_ms:0,muzzy_decay_ms:0,narenas:2\0"[0];
