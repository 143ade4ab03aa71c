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

/// Every `.rbac` file under the given directories (at any depth, in name order), with its text.
pub fn policy_files(dirs: &[&str]) -> Vec<(PathBuf, String)> {
    fn collect(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "rbac") {
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        collect(Path::new(dir), &mut out);
    }
    out
}

/// Appends a custom section (id 0, size, name, data) to a module.
pub fn with_custom(mut module: Vec<u8>, name: &str, data: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                break;
            }
        }
    }
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    module.push(0);
    leb(body.len(), &mut module);
    module.extend_from_slice(&body);
    module
}
