//! Loading policy files and their `use`d modules. The [`Loader`] trait keeps the compiler
//! free of I/O: [`FsLoader`] reads the file system (the CLI's choice), [`MemoryLoader`] serves
//! in-memory sources (tests, embedders); `use std::NAME;` is served from the embedded stdlib.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// A file as a loader returns it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Identity of the file: files with equal keys are loaded once.
    pub key: String,
    /// Name shown in diagnostics and reasons (`examples/zenml.rbac`).
    pub name: String,
    pub text: String,
}

/// Where policy text comes from.
pub trait Loader {
    /// Loads a file named by the user.
    fn load(&self, path: &str) -> Result<Loaded, String>;

    /// Loads `rel`, written in a `use` of the file shown as `from`, relative to that file.
    fn load_relative(&self, from: &str, rel: &str) -> Result<Loaded, String> {
        let joined = Path::new(from).parent().unwrap_or(Path::new("")).join(rel);
        self.load(&normalize(&joined))
    }
}

/// Removes `.` and folds `..` where possible, with `/` separators.
fn normalize(p: &Path) -> String {
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if out.last().is_some_and(|l| l != "..") => {
                out.pop();
            }
            Component::RootDir => out.push(String::new()),
            other => out.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    if out.len() == 1 && out.first().is_some_and(String::is_empty) {
        return "/".into();
    }
    out.join("/")
}

/// Reads files from disk; files are identified by their canonical path.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&self, path: &str) -> Result<Loaded, String> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("cannot read `{path}`: no such file"),
            std::io::ErrorKind::PermissionDenied => format!("cannot read `{path}`: permission denied"),
            _ => format!("cannot read `{path}`: {e}"),
        })?;
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path)).to_string_lossy().into_owned();
        Ok(Loaded { key, name: path.to_string(), text })
    }
}

/// Serves sources held in memory, by name.
#[derive(Debug, Default, Clone)]
pub struct MemoryLoader {
    files: BTreeMap<String, String>,
}

impl MemoryLoader {
    pub fn new() -> MemoryLoader {
        MemoryLoader::default()
    }

    /// Adds (or replaces) a file.
    pub fn with(mut self, name: &str, text: &str) -> MemoryLoader {
        self.files.insert(normalize(Path::new(name)), text.to_string());
        self
    }
}

impl Loader for MemoryLoader {
    fn load(&self, path: &str) -> Result<Loaded, String> {
        let key = normalize(Path::new(path));
        match self.files.get(&key) {
            Some(text) => Ok(Loaded { key: key.clone(), name: key, text: text.clone() }),
            None => Err(format!("no source named `{path}`")),
        }
    }
}

/// The embedded standard library: `use std::NAME;`.
pub const STDLIB: &[(&str, &str)] = &[("crud", include_str!("../stdlib/crud.rbac"))];

pub fn stdlib(name: &str) -> Option<Loaded> {
    STDLIB.iter().find(|(n, _)| *n == name).map(|(n, text)| Loaded {
        key: format!("std::{n}"),
        name: format!("std/{n}.rbac"),
        text: (*text).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_normalize() {
        assert_eq!(normalize(Path::new("a/./b/../c.rbac")), "a/c.rbac");
        assert_eq!(normalize(Path::new("../x.rbac")), "../x.rbac");
        let m = MemoryLoader::new().with("lib/roles.rbac", "").with("main.rbac", "");
        assert!(m.load_relative("main.rbac", "lib/roles.rbac").is_ok());
        assert!(m.load_relative("lib/roles.rbac", "../main.rbac").is_ok());
    }
}
