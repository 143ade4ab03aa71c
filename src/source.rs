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
    /// The file's text.
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
    // `.`, `sub/..`: the directory itself, named so (an empty name read as no file at all).
    if out.is_empty() {
        return ".".into();
    }
    out.join("/")
}

/// Reads files from disk; files are identified by their canonical path.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsLoader;

/// The largest policy file [`FsLoader`] reads (a policy of ten million assignments is some
/// 800 MB).
pub const MAX_SOURCE: u64 = 1 << 30;

impl Loader for FsLoader {
    /// Reads a regular file of at most [`MAX_SOURCE`] bytes: a device, pipe or directory named
    /// by a `use` would block or never end (`/dev/zero`), so it is refused unread.
    fn load(&self, path: &str) -> Result<Loaded, String> {
        let failed = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => format!("cannot read `{path}`: no such file"),
            std::io::ErrorKind::PermissionDenied => format!("cannot read `{path}`: permission denied"),
            _ => format!("cannot read `{path}`: {e}"),
        };
        let meta = std::fs::metadata(path).map_err(failed)?;
        if meta.is_dir() {
            return Err(format!("cannot read `{path}`: a directory, not a policy file"));
        }
        if !meta.is_file() {
            return Err(format!("cannot read `{path}`: not a regular file (a device, pipe or socket)"));
        }
        if meta.len() > MAX_SOURCE {
            return Err(format!(
                "cannot read `{path}`: {} bytes, more than a policy file may have ({MAX_SOURCE})",
                meta.len()
            ));
        }
        let bytes = std::fs::read(path).map_err(failed)?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            // A bundle, or one cut inside its magic.
            Err(e) if crate::Policy::is_bundle(e.as_bytes()) || crate::compile::bundle::cut_magic(e.as_bytes()) => {
                return Err(format!(
                    "`{path}` is a compiled bundle, not policy source: `check` and `fmt` read sources, while `can`, \
                     `eval`, `test`, `who-can`, `list`, `diff` and `build` also read bundles"
                ));
            }
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let line = e.as_bytes().get(..at).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) + 1;
                return Err(format!("cannot read `{path}`: not UTF-8 text (line {line}, byte {at})"));
            }
        };
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
    /// An empty loader.
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

/// The standard library module `NAME` of `use std::NAME;`, shown as `std/NAME.rbac`, or `None`
/// for a name [`STDLIB`] lacks.
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
        assert_eq!(normalize(Path::new("sub/..")), ".");
        assert_eq!(normalize(Path::new("./")), ".");
        let m = MemoryLoader::new().with("lib/roles.rbac", "").with("main.rbac", "");
        assert!(m.load_relative("main.rbac", "lib/roles.rbac").is_ok());
        assert!(m.load_relative("lib/roles.rbac", "../main.rbac").is_ok());
    }

    #[test]
    fn only_regular_files_of_text_are_read_from_disk() {
        // A device that never ends, a directory: refused unread.
        let err = FsLoader.load("/dev/zero").expect_err("a device");
        assert!(err.contains("not a regular file"), "{err}");
        let err = FsLoader.load("src").expect_err("a directory");
        assert!(err.contains("a directory"), "{err}");
        let dir = std::env::temp_dir().join(format!("rbac-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let bundle = dir.join("p.rbacb");
        let policy = crate::compile_str("p.rbac", "resource w;").policy.expect("compiles");
        std::fs::write(&bundle, policy.to_bundle()).expect("write");
        let err = FsLoader.load(&bundle.to_string_lossy()).expect_err("a bundle");
        assert!(err.contains("is a compiled bundle"), "{err}");
        let latin1 = dir.join("latin1.rbac");
        std::fs::write(&latin1, b"resource w;\n// caf\xe9\n").expect("write");
        let err = FsLoader.load(&latin1.to_string_lossy()).expect_err("not UTF-8");
        assert!(err.contains("not UTF-8 text (line 2, byte 18)"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
