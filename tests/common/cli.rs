//! The `arq` binary of this build, run from the repository root as a user would.

use std::process::Command;

/// Runs `arq ARGS` from the repository root: (exit code, stdout, stderr).
pub fn arq(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_arq"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run arq");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
