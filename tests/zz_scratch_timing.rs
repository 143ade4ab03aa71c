mod common;
use common::generator::*;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use std::collections::BTreeMap;
#[test]
fn stats() {
    let mut runner = TestRunner::deterministic();
    let mut h: BTreeMap<String, usize> = BTreeMap::new();
    let mut fails = 0;
    for _ in 0..300 {
        let raw = wide_raw_model().new_tree(&mut runner).unwrap().current();
        let src = render(&build_model(&raw));
        let Ok(p) = common::compile(&src) else {
            fails += 1;
            continue;
        };
        for _ in 0..60 {
            let r = wide_req().new_tree(&mut runner).unwrap().current();
            let d = p.decide(&r.to_crate());
            let v = serde_json::to_value(&d).unwrap();
            let mut key = v["decision"].as_str().unwrap().to_string();
            if let Some(e) = v["errors"].as_array().and_then(|e| e.first()) {
                key = format!("err {}", e["code"]);
                if v["errors"].as_array().unwrap().len() > 1 {
                    *h.entry("multi-error".into()).or_default() += 1;
                }
            } else if let Some(r) = v["reasons"].as_array().and_then(|r| r.first()) {
                key = format!("{key} {}", r["kind"]);
                if v["reasons"].as_array().unwrap().iter().any(|x| x.get("unevaluable").is_some()) {
                    *h.entry("unevaluable".into()).or_default() += 1;
                }
                if v["reasons"].as_array().unwrap().iter().any(|x| x.get("claim").is_some()) {
                    *h.entry("source".into()).or_default() += 1;
                }
            }
            if r.identity.is_some() {
                key = format!("id {key}");
            }
            *h.entry(key).or_default() += 1;
        }
    }
    eprintln!("compile failures {fails}");
    for (k, v) in h {
        eprintln!("{v:6} {k}");
    }
}
