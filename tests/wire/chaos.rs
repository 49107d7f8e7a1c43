//! CHAOS class: `id.server`, `hostname.bind` and `version.bind` TXT.

use crate::harness::{Server, diff_zones};

#[test]
fn id_server_and_hostname_bind_are_the_identity() {
    let server = Server::builder().zones(&diff_zones()).identity("pop-chaos-1").start();
    for qname in ["id.server", "hostname.bind", "ID.SERVER"] {
        for transport in ["+notcp", "+tcp"] {
            let r = server.dig(&[qname, "CH", "TXT", transport]);
            assert_eq!(
                r.rcode, "NOERROR",
                "expected NOERROR for {qname} CH TXT {transport}:\n{r}"
            );
            assert_eq!(r.answer.len(), 1, "expected one TXT record for {qname}:\n{r}");
            let txt = &r.answer[0];
            let owner = format!("{}.", qname.to_ascii_lowercase());
            assert_eq!(
                (
                    txt.owner.as_str(),
                    txt.class.as_str(),
                    txt.rtype.as_str(),
                    txt.rdata.as_str()
                ),
                (owner.as_str(), "CH", "TXT", "\"pop-chaos-1\""),
                "expected {qname} CH TXT \"pop-chaos-1\":\n{r}"
            );
        }
    }
}

#[test]
fn version_bind_answers_the_configured_version() {
    let server = Server::builder()
        .zones(&diff_zones())
        .config("[server]\nversion = \"test-version 9\"\n")
        .start();
    for qname in ["version.bind", "version.server"] {
        let r = server.dig(&[qname, "CH", "TXT"]);
        assert_eq!(r.rcode, "NOERROR", "expected NOERROR for {qname}:\n{r}");
        assert_eq!(
            r.answer.iter().map(|a| a.rdata.as_str()).collect::<Vec<_>>(),
            ["\"test-version 9\""],
            "expected the configured version for {qname}:\n{r}"
        );
    }
}

#[test]
fn version_bind_is_refused_when_hidden() {
    let server = Server::builder()
        .zones(&diff_zones())
        .config("[server]\nhide_version = true\n")
        .start();
    let r = server.dig(&["version.bind", "CH", "TXT"]);
    assert_eq!(
        r.rcode, "REFUSED",
        "expected REFUSED for version.bind with hide_version:\n{r}"
    );
    assert!(r.answer.is_empty(), "expected no answer:\n{r}");
}

#[test]
fn other_chaos_questions_are_refused() {
    let server = Server::diff();
    for args in [
        ["authors.bind", "CH", "TXT"],
        ["id.server", "CH", "A"],
        ["www.diff.example", "CH", "A"],
    ] {
        let r = server.dig(&args);
        assert_eq!(r.rcode, "REFUSED", "expected REFUSED for {}:\n{r}", args.join(" "));
        assert!(!r.flag("aa"), "expected AA clear for {}:\n{r}", args.join(" "));
    }
}
