//! EDNS(0): the OPT record echoed with our UDP size, BADVERS, DO, NSID.

use crate::harness::Server;

#[test]
fn opt_is_echoed_with_udp_size_1232() {
    let server = Server::diff();
    for transport in ["+notcp", "+tcp"] {
        for bufsize in ["+bufsize=512", "+bufsize=1232", "+bufsize=4096"] {
            let r = server.dig(&["www.diff.example", "A", bufsize, transport]);
            let edns = r
                .edns
                .as_ref()
                .unwrap_or_else(|| panic!("expected an OPT record for {bufsize} {transport}:\n{r}"));
            assert_eq!(
                edns.version, 0,
                "expected EDNS version 0 for {bufsize} {transport}:\n{r}"
            );
            assert_eq!(
                edns.udp, 1232,
                "expected udp size 1232 whatever the client offers ({bufsize} {transport}):\n{r}"
            );
            assert!(
                edns.flags.is_empty(),
                "expected no EDNS flags when the query had none ({bufsize}):\n{r}"
            );
        }
    }
}

#[test]
fn no_opt_without_edns() {
    let server = Server::diff();
    for qname in ["www.diff.example", "nonexistent.diff.example", "example.com"] {
        let r = server.dig(&[qname, "A", "+noedns"]);
        assert!(
            r.edns.is_none(),
            "expected no OPT record in the answer to a query without one ({qname}):\n{r}"
        );
    }
}

#[test]
fn opt_is_present_in_error_answers() {
    let server = Server::diff();
    for (qname, rcode) in [("nonexistent.diff.example", "NXDOMAIN"), ("example.com", "REFUSED")] {
        let r = server.dig(&[qname, "A"]);
        assert_eq!(r.rcode, rcode, "expected {rcode} for {qname}:\n{r}");
        assert!(r.edns.is_some(), "expected an OPT record in the {rcode} answer:\n{r}");
    }
}

#[test]
fn edns_version_1_gets_badvers() {
    let server = Server::diff();
    for transport in ["+notcp", "+tcp"] {
        let r = server.dig(&["www.diff.example", "A", "+edns=1", transport]);
        assert_eq!(
            r.rcode, "BADVERS",
            "expected BADVERS (RFC 6891 6.1.3) for EDNS version 1 {transport}:\n{r}"
        );
        let edns = r
            .edns
            .as_ref()
            .unwrap_or_else(|| panic!("expected an OPT record carrying BADVERS:\n{r}"));
        assert_eq!(
            edns.version, 0,
            "expected our highest version, 0, in the BADVERS answer:\n{r}"
        );
        assert!(r.answer.is_empty(), "expected no answer with BADVERS:\n{r}");
    }
}

#[test]
fn do_bit_is_echoed() {
    let server = Server::diff();
    let r = server.dig(&["www.diff.example", "A", "+dnssec"]);
    let edns = r
        .edns
        .as_ref()
        .unwrap_or_else(|| panic!("expected an OPT record:\n{r}"));
    assert!(
        edns.flags.contains("do"),
        "expected the DO bit copied into the answer (RFC 3225):\n{r}"
    );
    assert_eq!(r.answer.len(), 2, "expected the unsigned answer unchanged:\n{r}");
}

#[test]
fn unknown_options_are_ignored() {
    let server = Server::diff();
    for option in ["+ednsopt=65001:abcd", "+cookie", "+subnet=192.0.2.0/24", "+padding=128"] {
        let r = server.dig(&["www.diff.example", "A", option]);
        assert_eq!(r.rcode, "NOERROR", "expected NOERROR with {option}:\n{r}");
        assert_eq!(r.answer.len(), 2, "expected the normal answer with {option}:\n{r}");
    }
}

#[test]
fn nsid_is_the_identity() {
    let server = Server::builder()
        .zones(&crate::harness::diff_zones())
        .identity("pop-nsid-7")
        .start();
    for transport in ["+notcp", "+tcp"] {
        let r = server.dig(&["www.diff.example", "A", "+nsid", transport]);
        let nsid = r.edns.as_ref().and_then(|e| e.nsid.as_deref());
        assert_eq!(nsid, Some("pop-nsid-7"), "expected NSID = --identity {transport}:\n{r}");
    }
    let r = server.dig(&["www.diff.example", "A"]);
    assert_eq!(r.edns.and_then(|e| e.nsid), None, "expected no NSID unless asked for");
}
