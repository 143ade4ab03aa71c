//! Damaged policies: the bundled examples and the ui tests' policies, cut short, with pieces
//! deleted, repeated or swapped, and with stray tokens inserted, never make the compiler
//! panic. Each diagnostic has a code and a span inside its file on character boundaries, and
//! renders; a damaged policy that still compiles decides, runs its tests, emits a WebAssembly
//! module and round-trips through a bundle without a panic; `rbac fmt` formats it (and then
//! leaves it as it is) or refuses it for a syntax error.
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use proptest::prelude::*;

/// The policies damaged: every `.rbac` under `examples/` and `tests/ui/`.
fn sources() -> Vec<String> {
    let out: Vec<String> = common::policy_files(&["examples", "tests/ui"]).into_iter().map(|(_, text)| text).collect();
    assert!(out.len() > 50, "the examples and ui policies: {}", out.len());
    out
}

/// Pieces of the language, and a few things that are not.
const STRAY: &[&str] = &[
    "{",
    "}",
    ";",
    ",",
    "(",
    ")",
    "[",
    "]",
    ":",
    "/",
    "*",
    ".",
    "\"",
    "\"\"",
    "#",
    "//",
    "/*",
    "\n",
    " ",
    "==",
    "!=",
    "<=",
    "&&",
    "||",
    "!",
    "in",
    "role",
    "extends",
    "allow",
    "deny",
    "on",
    "when",
    "assign",
    "to",
    "resource",
    "actions",
    "attrs",
    "group",
    "identity",
    "use",
    "test",
    "expect",
    "user:",
    "group:",
    "workspace:",
    "principal",
    "resource.owner",
    "context",
    "true",
    "0",
    "-1",
    "99999999999999999999",
    "é",
    "\u{0}",
    "\t",
    "\r\n",
    "🦀",
];

#[derive(Debug, Clone)]
enum Damage {
    /// Cut at this fraction of the text.
    Cut(f64),
    /// Delete a range (start fraction, length in characters).
    Delete(f64, usize),
    /// Insert a stray piece at a fraction of the text.
    Insert(f64, usize),
    /// Copy a range (start fraction, length) to another place (fraction).
    Repeat(f64, usize, f64),
    /// Swap two characters (fractions).
    Swap(f64, f64),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0.0..1.0f64).prop_map(Damage::Cut),
        (0.0..1.0f64, 1..40usize).prop_map(|(a, n)| Damage::Delete(a, n)),
        (0.0..1.0f64, 0..STRAY.len()).prop_map(|(a, k)| Damage::Insert(a, k)),
        (0.0..1.0f64, 1..80usize, 0.0..1.0f64).prop_map(|(a, n, b)| Damage::Repeat(a, n, b)),
        (0.0..1.0f64, 0.0..1.0f64).prop_map(|(a, b)| Damage::Swap(a, b)),
    ]
}

fn apply(text: &str, d: &Damage) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let at = |f: f64, len: usize| ((f * len as f64) as usize).min(len);
    match *d {
        Damage::Cut(f) => chars.truncate(at(f, chars.len())),
        Damage::Delete(f, n) => {
            let a = at(f, chars.len());
            chars.drain(a..(a + n).min(chars.len()));
        }
        Damage::Insert(f, k) => {
            let a = at(f, chars.len());
            chars.splice(a..a, STRAY[k].chars());
        }
        Damage::Repeat(f, n, g) => {
            let a = at(f, chars.len());
            let piece: Vec<char> = chars[a..(a + n).min(chars.len())].to_vec();
            let b = at(g, chars.len());
            chars.splice(b..b, piece);
        }
        Damage::Swap(f, g) => {
            let (a, b) = (at(f, chars.len()), at(g, chars.len()));
            if a < chars.len() && b < chars.len() {
                chars.swap(a, b);
            }
        }
    }
    chars.into_iter().collect()
}

/// Compiles a damaged text and checks everything said above; an error names what broke.
fn survives(text: &str) -> Result<(), String> {
    let compiled = std::panic::catch_unwind(|| rbac::compile_str("damaged.rbac", text))
        .map_err(|_| format!("compiling panicked on:\n{text}"))?;
    for d in compiled.diagnostics.iter() {
        let ok_code = d.code.len() == 5
            && (d.code.starts_with('E') || d.code.starts_with('W'))
            && d.code[1..].chars().all(|c| c.is_ascii_digit());
        if !ok_code {
            return Err(format!("diagnostic code {:?} on:\n{text}", d.code));
        }
        for label in std::iter::once(&d.primary).chain(&d.secondary) {
            let file = compiled.sources.get(label.span.file).ok_or_else(|| format!("{d:?}: no such file"))?;
            let (start, end) = (label.span.start as usize, label.span.end as usize);
            if start > end
                || end > file.text.len()
                || !file.text.is_char_boundary(start)
                || !file.text.is_char_boundary(end)
            {
                return Err(format!(
                    "{} span {start}..{end} outside its file or a character: {d:?} on:\n{text}",
                    d.code
                ));
            }
        }
    }
    std::panic::catch_unwind(|| (compiled.render(false), compiled.render_json()))
        .map_err(|_| format!("rendering the diagnostics panicked on:\n{text}"))?;
    formats(text)?;
    let Some(policy) = compiled.policy.as_ref() else {
        return if compiled.diagnostics.has_errors() {
            Ok(())
        } else {
            Err(format!("no policy and no error on:\n{text}"))
        };
    };
    std::panic::catch_unwind(|| {
        for line in [
            r#"{"principal":{"id":"user:carol@acme.com","groups":["ml_platform"]},"action":"read","resource":"workspace:prod/project:churn"}"#,
            r#"{"principal":{"id":"user:ann","groups":["eng","ops"]},"action":"delete","resource":{"path":"workspace:prod","attrs":{"owner":"user:ann"}}}"#,
            r#"{"principal":{"id":"service:ci"},"action":"run","resource":"workspace:prod/project:churn/pipeline:train"}"#,
        ] {
            let request = rbac::Request::from_json(line).expect("a request");
            let _ = policy.decide(&request);
        }
        let _ = policy.run_tests();
        rbac::wasm::emit(policy).map(|_| ()).map_err(|e| e.to_string())?;
        rbac::Policy::from_bundle(&policy.to_bundle()).map(|_| ()).map_err(|e| e.to_string())
    })
    .map_err(|_| format!("deciding, testing, emitting or bundling panicked on:\n{text}"))?
    .map_err(|e| format!("a compiled policy failed to emit or bundle: {e} on:\n{text}"))
}

/// `rbac fmt` formats a damaged text that parses, and formatting that again changes nothing;
/// it refuses one with a syntax error; it never finds its output means something else.
fn formats(text: &str) -> Result<(), String> {
    let fmt = |t: &str| rbac::syntax::format(0, t, &mut rbac::Diagnostics::default());
    let once = std::panic::catch_unwind(|| fmt(text)).map_err(|_| format!("formatting panicked on:\n{text}"))?;
    match once {
        Ok(out) if fmt(&out).as_deref() == Ok(out.as_str()) => Ok(()),
        Ok(out) => Err(format!("formatting twice changes it:\n{text}\n-- formatted once --\n{out}")),
        Err(rbac::syntax::FormatError::Syntax) => Ok(()),
        Err(e) => Err(format!("formatting failed, {e:?}, on:\n{text}")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn a_damaged_policy_never_panics_the_compiler(
        pick in any::<prop::sample::Index>(),
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let all = sources();
        let mut text = pick.get(&all).clone();
        for d in &damages {
            text = apply(&text, d);
        }
        if let Err(e) = survives(&text) {
            prop_assert!(false, "{}", e);
        }
    }
}

#[test]
fn every_cut_of_the_example_compiles_without_a_panic() {
    // Every prefix of the design's example, at each character: the places a parser gives up.
    let text = std::fs::read_to_string("examples/zenml.rbac").expect("the example");
    let ends: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    for &end in &ends {
        if let Err(e) = survives(&text[..end]) {
            panic!("{e}");
        }
    }
}
