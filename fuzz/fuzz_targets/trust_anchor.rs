//! The resolver's trust anchor file on arbitrary bytes (DS and DNSKEY lines,
//! or RFC 7958 XML when it starts with `<`); the anchors read must be sound
//! and, written again as DS and DNSKEY lines, read back the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = dns_server::fuzz::trust_anchors(data);
});
