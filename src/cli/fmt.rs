//! `rbac fmt`: formats policy files in place, or says which would change (`--check`).

use rbac::syntax::{FormatError, format};
use rbac::{Diagnostics, Sources};
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct FmtArgs {
    /// Policy files, formatted in place, or directories, whose `.rbac` files (at any depth)
    /// are; `-` formats standard input to standard output.
    #[arg(required = true)]
    files: Vec<String>,
    /// Change nothing: name each file that is not formatted, with its first line that would
    /// change, and exit 1 when there is any.
    #[arg(long)]
    check: bool,
}

/// Exit 0 when every file is (or now is) formatted; 1 when one has syntax errors or, with
/// `--check`, would change; 2 when one cannot be read or written.
pub fn run(args: &FmtArgs, color: bool) -> ExitCode {
    let mut code = 0u8;
    for arg in &args.files {
        let mut files = Vec::new();
        if let Err(e) = policies(std::path::Path::new(arg), &mut files) {
            eprintln!("rbac fmt: cannot read the directory {arg}: {e}");
            code = 2;
        }
        for file in files {
            code = code.max(one(&file, args.check, color));
        }
    }
    ExitCode::from(code)
}

/// `path` itself unless it is a directory; else its `.rbac` files at any depth, in name order.
fn policies(path: &std::path::Path, out: &mut Vec<String>) -> std::io::Result<()> {
    if !path.is_dir() {
        out.push(path.to_string_lossy().into_owned());
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        // Inside a directory, a link to a directory is not followed (as `find` and `git` do
        // not): a link to a parent would loop.
        let linked_dir = entry.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) && entry.is_dir();
        if linked_dir {
            continue;
        }
        if entry.is_dir() {
            policies(&entry, out)?;
        } else if entry.extension().is_some_and(|e| e == "rbac") {
            out.push(entry.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

fn one(file: &str, check: bool, color: bool) -> u8 {
    let stdin = file == "-";
    let read = if stdin {
        // Up to what a policy file may be (`fmt - < /dev/zero` took all memory).
        let limit = rbac::source::MAX_SOURCE;
        super::read_bounded("-", limit).and_then(|text| {
            text.ok_or_else(|| {
                std::io::Error::other(format!("standard input is over {} GiB: no policy is", limit >> 30))
            })
        })
    } else {
        // As `check` reads it: a regular file of policy text (not a pipe, device or bundle).
        rbac::Loader::load(&rbac::FsLoader, file).map(|loaded| loaded.text).map_err(std::io::Error::other)
    };
    let text = match read {
        Ok(text) => text,
        Err(e) => {
            eprintln!("rbac fmt: {e}");
            return 2;
        }
    };
    let name = if stdin { "<stdin>" } else { file };
    let mut sources = Sources::default();
    let id = sources.add(name.to_string(), text.clone());
    let mut diags = Diagnostics::default();
    let formatted = match format(id, &text, &mut diags) {
        Ok(formatted) => formatted,
        // Standard input that is not formatted is given back as it came, so that an editor
        // filtering its buffer through `rbac fmt -` (`:%!rbac fmt -`) keeps it.
        Err(FormatError::Syntax) => {
            eprint!("{}", rbac::diag::render_human(&sources, diags.iter(), color));
            eprintln!("{name}: not formatted: it has syntax errors");
            if stdin && !check {
                let _ = super::stdout().write_all(text.as_bytes());
            }
            return 1;
        }
        Err(FormatError::Changed(why)) => {
            eprintln!("rbac fmt: {name} was left as it is: {why} (a bug in rbac fmt; please report it)");
            if stdin && !check {
                let _ = super::stdout().write_all(text.as_bytes());
            }
            return 2;
        }
    };
    if check {
        if formatted == text {
            return 0;
        }
        let (line, want) = first_difference(&text, &formatted);
        let _ = writeln!(super::stdout(), "{name}:{line}: not formatted; the line would read: {want}");
        return 1;
    }
    if stdin {
        let _ = super::stdout().write_all(formatted.as_bytes());
        return 0;
    }
    if formatted != text
        && let Err(e) = super::write_whole(file, formatted.as_bytes())
    {
        eprintln!("rbac fmt: cannot write {file}: {e}");
        return 2;
    }
    0
}

/// The first line (numbered from 1) where the formatted text differs, as it would read.
fn first_difference<'a>(text: &str, formatted: &'a str) -> (usize, &'a str) {
    // Lines with their line breaks: a CRLF line differs from its LF form.
    let mut old = text.split_inclusive('\n');
    for (n, new) in formatted.split_inclusive('\n').enumerate() {
        match old.next() {
            Some(line) if line == new => {}
            Some(line)
                if line.ends_with("\r\n") && line.trim_end_matches(['\r', '\n']) == new.trim_end_matches('\n') =>
            {
                return (n + 1, "(the same, ending in `\\n` rather than `\\r\\n`)");
            }
            Some(line) if !line.ends_with('\n') && line == new.trim_end_matches('\n') => {
                return (n + 1, "(the same, with the line break the file's last line lacks)");
            }
            _ => return (n + 1, new.trim_end_matches('\n')),
        }
    }
    (formatted.split_inclusive('\n').count() + 1, "(the end of the file)")
}
