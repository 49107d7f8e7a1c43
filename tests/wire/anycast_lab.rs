//! The anycast failover lab (`cargo xtask lab`) as a test, through the
//! `dns-lab` library: two PoPs (BIRD and GoBGP) with server, XDP and sidecar,
//! a BIRD router and a client. The lab fails when a step does not end with
//! the expected PoP serving the client and probes answered again; its
//! timings are printed, never asserted.

use std::path::PathBuf;

use dns_lab::anycast::{self, Options};

#[test]
fn failover_lab_moves_the_client_between_pops() {
    test_support::require_root!("the lab of network namespaces");
    let rows = anycast::run(&Options {
        server_bin: PathBuf::from(env!("CARGO_BIN_EXE_dns-server")),
        xdp: true,
        keep_logs: false,
    })
    .unwrap_or_else(|e| panic!("expected every lab step to end with the right PoP serving the client: {e:#}"));
    for pop in ["pop-a", "pop-b"] {
        assert!(
            rows.iter()
                .any(|row| row.to == pop && row.answered.iter().all(Option::is_some)),
            "expected {pop} to answer the client over IPv4 and IPv6 after some step"
        );
    }
}
