#![no_main]
//! `cargo +nightly fuzz run checkpoint`: see docs/fuzzing.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| repq_hw::fuzzing::Target::Checkpoint.run(data));
