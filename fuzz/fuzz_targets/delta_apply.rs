//! libFuzzer entry for [`periscope_fuzz::delta_apply`]; built by `fuzz/run.sh`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| periscope_fuzz::delta_apply(data));
