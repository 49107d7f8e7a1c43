//! A primary's AXFR or IXFR answer on arbitrary bytes, as a secondary
//! reads, builds and applies it, with the TSIG and transfer-request readers
//! on each of its messages.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = dns_server::fuzz::transfer(data);
});
