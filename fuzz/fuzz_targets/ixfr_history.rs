//! The IXFR-out history file on arbitrary bytes, as a start takes it back;
//! what is taken back must be one chain ending at the zone's SOA, and the
//! file written again from it must be taken back the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = dns_server::fuzz::ixfr_history(data);
});
