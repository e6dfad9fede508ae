//! `cargo +nightly fuzz run dataset`: the checks live in fuzz/checks.rs, shared with the stable
//! corpus replay (tests/fuzz_corpus.rs).
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::dataset(data));
