//! `arq`: the native command line. The CLI needs a terminal and a file system, so it is
//! compiled only for native targets; the wasm32 build of the crate skips it.

#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod digit_cmd;
#[cfg(not(target_arch = "wasm32"))]
mod export_cmd;
#[cfg(not(target_arch = "wasm32"))]
mod pipeline_cmds;
#[cfg(not(target_arch = "wasm32"))]
mod resolution_cmd;
#[cfg(not(target_arch = "wasm32"))]
mod results_cmd;
#[cfg(not(target_arch = "wasm32"))]
mod selftest_cmd;
#[cfg(not(target_arch = "wasm32"))]
mod sensitivity_cmd;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
