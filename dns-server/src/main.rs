//! The `dns-server` binary: a thin command-line front for the library.
fn main() {}
