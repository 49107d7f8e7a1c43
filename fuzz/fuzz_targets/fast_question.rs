//! The XDP program's question parser (`dns_wire::fast_question`, the very
//! code the program runs) against the full parser userspace answers from:
//! whatever the program decides, userspace must decide alike.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = dns_wire::differential::check(data) {
        panic!("the XDP parser and the full parser disagree: {e}");
    }
});
