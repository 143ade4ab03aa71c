//! Helpers shared by the integration tests (`mod common;` in each test that uses them).

#![allow(dead_code, clippy::panic)]

// `gen` is a reserved word in Rust 2024, so the generator's module takes another name.
#[path = "gen.rs"]
pub mod generator;

use proptest::test_runner::TestCaseError;
use std::path::{Path, PathBuf};

/// A directory of its own under the system's temporary directory (`rbac-TAG-PID`), empty
/// when made and removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("rbac-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temporary directory {}: {e}", dir.display()));
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles a generated policy, failing with the source and the diagnostics when it does not.
pub fn compile(src: &str) -> Result<rbac::Policy, TestCaseError> {
    let compilation = rbac::compile_str("gen.rbac", src);
    match compilation.policy {
        Some(p) => Ok(p),
        None => Err(TestCaseError::fail(format!(
            "generated policy does not compile\n--- source ---\n{src}\n--- diagnostics ---\n{}",
            compilation.render(false)
        ))),
    }
}
