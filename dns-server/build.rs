//! Builds the XDP program (xdp-ebpf) for bpfel-unknown-none with the nightly
//! toolchain, so that the server can embed it with `include_bytes_aligned!`,
//! and compiles the GoBGP API subset (proto/gobgp.proto) for the sidecar.
use anyhow::{Context as _, anyhow};
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?;
    compile_gobgp_proto(&manifest_dir)?;
    let root = std::path::Path::new(&manifest_dir).join("../xdp-ebpf");
    let root = root.to_str().ok_or_else(|| anyhow!("non-UTF-8 path to xdp-ebpf"))?;
    // aya-build watches the program's own directory (xdp-abi included); the
    // program also compiles dns-wire, which lives beside it.
    println!(
        "cargo:rerun-if-changed={}",
        std::path::Path::new(&manifest_dir).join("../dns-wire").display()
    );
    aya_build::build_ebpf(
        [Package {
            name: "xdp-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        Toolchain::default(),
    )
    .context("building the XDP program (run `cargo xtask setup` first)")
}

/// Parses the proto with protox (pure Rust, so no `protoc` on the build machine)
/// and generates the tonic client into OUT_DIR/apipb.rs.
fn compile_gobgp_proto(manifest_dir: &str) -> anyhow::Result<()> {
    let proto_dir = std::path::Path::new(manifest_dir).join("proto");
    let proto = proto_dir.join("gobgp.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let descriptors = protox::compile([&proto], [&proto_dir]).context("parsing proto/gobgp.proto")?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(descriptors)
        .context("generating the GoBGP client from proto/gobgp.proto")
}
