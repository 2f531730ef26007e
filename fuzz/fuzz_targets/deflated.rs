//! Fuzz target: the input is a data set, put in a Part 10 file of the deflated transfer syntax
//! and run through the pipeline. Reading inflated data goes forward only, with no size known
//! in advance: values are read, not referenced, and no length can be checked against the end.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../pipeline.rs"]
mod pipeline;

fuzz_target!(|data: &[u8]| {
    pipeline::run(&pipeline::bytes::deflated_part10(data));
});
