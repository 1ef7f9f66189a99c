#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gitseal_fuzz::value_bytes(data));
