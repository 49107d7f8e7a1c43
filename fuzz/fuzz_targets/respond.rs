//! A query's bytes through the userspace responder, over UDP and TCP, on
//! fixed zones; the responses must read back, set QR, echo the question,
//! fit the transport and be the same fresh and from the answer cache.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = dns_server::fuzz::respond(data);
});
