//! `cargo xtask`: set-up, run, test and benchmark commands.
fn main() {}
