#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer on stable Rust (no cargo-fuzz, no nightly):
# the targets are built with rustc's SanitizerCoverage pass and linked against the
# libFuzzer that libfuzzer-sys compiles. See docs/fuzzing.md.
#
#   fuzz/run.sh [TARGET|all] [SECONDS]      # default: all targets, 60 s each
#
# New inputs go to fuzz/work/<target>/ (not committed); crashes to
# fuzz/artifacts/<target>/ — copy each into fuzz/regressions/<target>/ so
# `cargo test -p periscope-fuzz` replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(frame_decoder delta_apply sock_diag conntrack proc_parsers)
which="${1:-all}"
seconds="${2:-60}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# --target keeps RUSTFLAGS off build scripts and proc macros, which must not be instrumented.
[ "$which" = all ] || targets=("$which")
bins=()
for target in "${targets[@]}"; do bins+=(--bin "$target"); done
cargo build --release -p periscope-fuzz --features libfuzzer "${bins[@]}" --target "$triple" --target-dir target/fuzz
for target in "${targets[@]}"; do
  mkdir -p "fuzz/work/$target" "fuzz/artifacts/$target"
  echo "== $target for ${seconds} s"
  "target/fuzz/$triple/release/$target" "fuzz/work/$target" "fuzz/corpus/$target" \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="fuzz/artifacts/$target/" -print_final_stats=1
done
