//! Which zone answers: the most specific one; names outside every zone are refused.

use crate::harness::{Server, zone_path};

#[test]
fn names_outside_every_zone_are_refused() {
    let server = Server::diff();
    for qname in [
        "example.com",
        "outside.test",
        "example",
        ".",
        "diff.example.com",
        "xdiff.example",
    ] {
        for transport in ["+notcp", "+tcp"] {
            let r = server.dig(&[qname, "A", transport]);
            assert_eq!(r.rcode, "REFUSED", "expected REFUSED for {qname} {transport}:\n{r}");
            assert!(!r.flag("aa"), "expected AA clear for {qname}:\n{r}");
            assert!(
                r.answer.is_empty() && r.authority.is_empty(),
                "expected no records (no referral to the root) for {qname}:\n{r}"
            );
        }
    }
}

#[test]
fn most_specific_zone_wins() {
    // Both orders on the command line: the answer must not depend on it.
    let parent = ("diff.example.", zone_path("diff.example.zone"));
    let child = ("deep.diff.example.", zone_path("deep.diff.example.zone"));
    for order in [[&parent, &child], [&child, &parent]] {
        let server = Server::builder()
            .zone(order[0].0, &order[0].1)
            .zone(order[1].0, &order[1].1)
            .start();
        let r = server.dig(&["host.deep.diff.example", "A"]);
        assert_eq!(
            (
                r.rcode.as_str(),
                r.flag("aa"),
                r.answer.first().map(|a| a.rdata.as_str())
            ),
            ("NOERROR", true, Some("198.51.100.2")),
            "expected the child zone to answer host.deep (not a referral from the parent):\n{r}"
        );
        let r = server.dig(&["deep.diff.example", "SOA"]);
        assert!(
            r.answer.iter().any(|a| a.rtype == "SOA" && a.rdata.contains(" 7 ")),
            "expected the child's SOA (serial 7) at deep.diff.example:\n{r}"
        );
        let r = server.dig(&["nothing.deep.diff.example", "A"]);
        assert!(
            r.rcode == "NXDOMAIN"
                && r.authority
                    .iter()
                    .any(|a| a.owner == "deep.diff.example." && a.ttl == 120),
            "expected NXDOMAIN with the child's SOA (TTL 120):\n{r}"
        );
        let r = server.dig(&["deep.diff.example", "DS"]);
        assert!(
            r.rcode == "NOERROR"
                && r.authority
                    .iter()
                    .any(|a| a.rtype == "SOA" && a.owner == "diff.example."),
            "expected DS at the child apex answered by the parent (RFC 4035 3.1.4.1): NODATA with the parent SOA:\n{r}"
        );
        let r = server.dig(&["www.diff.example", "A"]);
        assert_eq!(
            r.answer.len(),
            2,
            "expected the parent to keep answering its own names:\n{r}"
        );
    }
}

#[test]
fn parent_zone_alone_refers_to_the_child() {
    let server = Server::builder()
        .zone("diff.example.", &zone_path("diff.example.zone"))
        .start();
    let r = server.dig(&["host.deep.diff.example", "A"]);
    assert!(
        r.rcode == "NOERROR" && !r.flag("aa") && r.answer.is_empty(),
        "expected a referral (no AA, no answer) when only the parent is served:\n{r}"
    );
    assert!(
        r.authority
            .iter()
            .any(|a| a.owner == "deep.diff.example." && a.rtype == "NS"),
        "expected the deep NS RRset in authority:\n{r}"
    );
}

#[test]
fn child_zone_alone_refuses_the_parent() {
    let server = Server::builder()
        .zone("deep.diff.example.", &zone_path("deep.diff.example.zone"))
        .start();
    let r = server.dig(&["www.diff.example", "A"]);
    assert_eq!(
        r.rcode, "REFUSED",
        "expected REFUSED for a name above the only zone:\n{r}"
    );
}
