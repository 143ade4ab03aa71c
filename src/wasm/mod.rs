//! The WebAssembly backend: [`emit`](fn@emit) turns a compiled policy into a standalone
//! module with no imports (ABI in docs/wasm-abi.md); [`WasmPolicy`] runs
//! one with wasmtime and decides the same [`crate::Request`]s as the native evaluator, with
//! the same JSON decision.

mod emit;
mod encode;
mod host;
pub mod meta;
mod tables;

pub use emit::{INPUT_CAP, MAX_COND_TERMS, OUTPUT_CAP, validate};
pub use encode::{MAGIC, encode, encode_for};
pub use host::{DEFAULT_FUEL, WasmPolicy};

/// Emits the module for a policy.
pub fn emit(policy: &crate::Policy) -> Result<Vec<u8>, String> {
    emit::emit(policy.compiled())
}
