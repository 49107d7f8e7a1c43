//! `cargo xtask bench`: installs what the bench needs, then runs it from the `dns-lab` library.
use anyhow::Result;

use crate::setup;

pub use dns_lab::bench::Command;

pub fn cmd(command: &Command) -> Result<()> {
    setup::toolchain()?;
    setup::packages(&command.packages())?;
    dns_lab::bench::run(command)
}
