//! The resolver's RFC 5011 state file on arbitrary bytes; a state that
//! reads, written again as the tracker writes it, must read back the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = dns_server::fuzz::autotrust_state(data);
});
