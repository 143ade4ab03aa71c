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

/// Emits the module for a policy; [`WasmError`] `E0901` for a policy larger than the target
/// takes.
pub fn emit(policy: &crate::Policy) -> Result<Vec<u8>, WasmError> {
    emit::emit(policy.compiled())
}

/// Why a policy could not be emitted as a module ([`emit`](fn@emit)), or a module not loaded
/// ([`WasmPolicy::new`]): a stable code (`rbac explain E0904`) and a one-line message.
///
/// | code | meaning |
/// |---|---|
/// | `E0901` | the policy is larger than the WebAssembly target takes |
/// | `E0902` | the bytes are not a policy module `rbac` emitted (not WebAssembly, no `rbac.meta`, no digest, an export missing) or wasmtime cannot run them |
/// | `E0903` | the module speaks another ABI version |
/// | `E0904` | the module's bytes do not match its `rbac.sha256` digest |
/// | `E0905` | an internal error of the emitter (a bug: please report it) |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmError {
    /// The stable code, `E0901` to `E0905`.
    pub code: &'static str,
    /// The one-line message.
    pub message: String,
}

impl WasmError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> WasmError {
        WasmError { code, message: message.into() }
    }

    /// `E0902` with what went wrong.
    pub(crate) fn not_module(e: impl std::fmt::Display) -> WasmError {
        WasmError::new("E0902", e.to_string())
    }
}

impl std::fmt::Display for WasmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

impl std::error::Error for WasmError {}
