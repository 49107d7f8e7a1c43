//! Makes cargo rebuild the program when bpf-linker changes.
use which::which;

fn main() {
    // bpf-linker is the linker for bpfel-unknown-none; a new one may emit different code.
    if let Ok(linker) = which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
