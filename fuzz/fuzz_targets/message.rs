//! The reader of other servers' responses (the resolver's), on arbitrary
//! bytes; what it reads must survive being written again and read back.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = dns_server::fuzz::read_message(data);
});
