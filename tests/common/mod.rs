//! Helpers shared by the integration tests (`mod common;` in each test that uses them).

#![allow(dead_code)]

// `gen` is a reserved word in Rust 2024, so the generator's module takes another name.
#[path = "gen.rs"]
pub mod generator;

use proptest::test_runner::TestCaseError;

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
