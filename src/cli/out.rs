//! Standard output for every command but `lsp`: a write that fails (a full disk, a closed
//! pipe) is remembered, and the command then exits 2 saying so, whatever it would have
//! returned. Output cut short must not pass for complete: `rbac fmt - < p > p.new && mv
//! p.new p` would replace a policy with its first lines.

use std::io::{self, ErrorKind, Write};
use std::sync::Mutex;

/// The first write error of this run.
static FAILED: Mutex<Option<(ErrorKind, String)>> = Mutex::new(None);

/// Standard output, locked, with its write errors remembered.
pub(super) struct Stdout(io::StdoutLock<'static>);

/// Standard output for a command's results.
pub(super) fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

fn note(e: &io::Error) {
    // `write_all` tries again after an interruption: it is no failure.
    if e.kind() == ErrorKind::Interrupted {
        return;
    }
    if let Ok(mut failed) = FAILED.lock()
        && failed.is_none()
    {
        *failed = Some((e.kind(), e.to_string()));
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).inspect_err(note)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().inspect_err(note)
    }
}

/// `code`, unless some output could not be written: then 2, and why on standard error (not
/// for a pipe closed by its reader, as `head` does, which is no news to the one who closed
/// it).
pub(super) fn finish(code: std::process::ExitCode) -> std::process::ExitCode {
    let _ = stdout().flush();
    match FAILED.lock().ok().and_then(|mut f| f.take()) {
        None => code,
        Some((ErrorKind::BrokenPipe, _)) => std::process::ExitCode::from(2),
        Some((_, e)) => {
            eprintln!("error: cannot write the output: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
