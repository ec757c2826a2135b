#![no_main]
//! `cargo +nightly fuzz run config_json`: see docs/fuzzing.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| repq_hw::fuzzing::Target::ConfigJson.run(data));
