//! Builds the XDP program (xdp-ebpf) for bpfel-unknown-none with the nightly
//! toolchain, so that the server can embed it with `include_bytes_aligned!`.
use anyhow::{Context as _, anyhow};
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?;
    let root = std::path::Path::new(&manifest_dir).join("../xdp-ebpf");
    let root = root.to_str().ok_or_else(|| anyhow!("non-UTF-8 path to xdp-ebpf"))?;
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
