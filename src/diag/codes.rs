//! placeholder
pub struct CodeInfo;
pub fn explain(_c: &str) -> Option<&'static str> {
    None
}
pub fn lookup(_c: &str) -> Option<CodeInfo> {
    None
}
