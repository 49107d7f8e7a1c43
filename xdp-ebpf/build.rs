//! Makes cargo rebuild the program when bpf-linker changes, and lets LLVM
//! use loads and stores wider than the data's known alignment.
use which::which;

fn main() {
    // bpf-linker is the linker for bpfel-unknown-none; a new one may emit different code.
    if let Ok(linker) = which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
    // Packet bytes have no known alignment, so by default LLVM reads and
    // writes headers a byte at a time. x86-64 and arm64 kernels accept
    // misaligned packet and map accesses (the verifier is strict only where
    // the CPU is); LLVM 22's BPF backend then emits 2-, 4- and 8-byte ones.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("bpf") {
        println!("cargo:rustc-link-arg=--cpu-features=+allows-misaligned-mem-access");
    }
}
