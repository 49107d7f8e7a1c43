//! The benchmarks and the anycast failover lab, as a library.
//!
//! `cargo xtask bench ...` and `cargo xtask lab` parse their arguments and
//! call [`bench::run`] and [`anycast::run`]; the integration tests call
//! [`anycast::run`] directly with the server binary they built. What the two
//! share: [`cmd`] runs other programs, [`signals`] is the one Ctrl-C path
//! (an interruption becomes an error at the next wait, so that every guard's
//! `Drop` removes what it made).
pub mod anycast;
pub mod bench;
pub mod cmd;
pub mod signals;
