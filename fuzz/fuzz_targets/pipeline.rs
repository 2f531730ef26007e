//! Fuzz target: read -> anonymize -> write -> re-read -> anonymize again (see `../pipeline.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../pipeline.rs"]
mod pipeline;

fuzz_target!(|data: &[u8]| {
    pipeline::run(data);
});
