// THROWAWAY: delete before handing back.
#[test]
fn check_policy() {
    let Ok(p) = std::env::var("POLICY") else { return };
    let c = rbac::compile(&rbac::FsLoader, &[p.as_str()]);
    println!("{}", c.render(false));
    println!("diagnostics: {}", c.diagnostics.iter().count());
    let Some(policy) = c.policy else { panic!("no policy") };
    let mut failed = 0;
    for r in policy.run_tests() {
        if !r.passed() {
            failed += 1;
            println!(
                "FAIL {} {}: expected {:?}, got {}",
                r.test.name,
                r.expectation.at,
                r.expectation.effect,
                serde_json::to_string(&r.actual).unwrap()
            );
        }
    }
    println!("tests: {} failed of {}", failed, policy.run_tests().len());
    if let Ok(reqs) = std::env::var("REQS") {
        for line in std::fs::read_to_string(reqs).unwrap().lines().filter(|l| !l.trim().is_empty()) {
            let d = match rbac::Request::from_json(line) {
                Ok(r) => policy.decide(&r),
                Err(e) => rbac::Decision::invalid(vec![e]),
            };
            println!("{line}\n  => {}", serde_json::to_string(&d).unwrap());
        }
    }
}
