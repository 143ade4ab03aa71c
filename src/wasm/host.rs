//! The Rust host: runs an emitted module with wasmtime (a memory limit, fuel on request, no
//! imports) and turns its numeric output back into the same [`Decision`] the native evaluator
//! gives. Per decision it encodes the request straight into the module's memory, makes two
//! calls, and reads the records in place.

use super::WasmError;
use super::emit::INPUT_CAP;
use super::encode::{Window, encode_to};
use super::meta::{Meta, SECTION};
use crate::request::{Decision, Effect, Principal, Reason, Reasons, Request, RequestError, RuleReason, invalid};
use std::borrow::Cow;
use wasmtime::{
    Config, Engine, Inlining, Instance, Memory, Module, OptLevel, Store, StoreLimits, StoreLimitsBuilder, TypedFunc,
};

/// Fuel for one decision for [`WasmPolicy::with_fuel`]: above what the costliest valid
/// request needs (set comparisons are quadratic in the module: two `set<int>`s that fill the
/// 64 KiB input, compared with `==`, take about 0.7 billion units), small enough that a
/// runaway module stops within about half a second.
pub const DEFAULT_FUEL: u64 = 4_000_000_000;
/// The most linear memory a module may have.
const MEMORY_LIMIT: usize = 64 << 20;

/// A loaded policy module, ready to decide. Not `Sync`: give each thread its own.
///
/// ```
/// let policy = rbac::compile_str("p.rbac", "resource doc { actions read; }\nrole v { allow read on doc; }\nassign v to everyone;\n")
///     .policy
///     .expect("compiles");
/// let bytes = rbac::wasm::emit(&policy)?;
/// let mut host = rbac::wasm::WasmPolicy::new(&bytes)?;
/// let request = rbac::Request::new("user:ann", &[], "read", "doc:x");
/// // A decision borrows the module's names until the next one; `into_owned` keeps it.
/// let decision = host.decide(&request).into_owned();
/// assert!(decision.is_allow());
/// assert_eq!(decision, policy.decide(&request));
/// # Ok::<(), rbac::wasm::WasmError>(())
/// ```
pub struct WasmPolicy {
    store: Store<StoreLimits>,
    memory: Memory,
    decide: TypedFunc<i32, i32>,
    output_len: TypedFunc<(), i32>,
    principal_ptr: TypedFunc<(), i32>,
    principal_len: TypedFunc<(), i32>,
    input_ptr: usize,
    output_ptr: usize,
    meta: Meta,
    /// Each `extends` chain of `meta` by its role names, and each group as a reason's subject
    /// (`group:NAME`): made once, so that a decision's reasons borrow them.
    chain_names: Vec<Vec<String>>,
    group_subjects: Vec<String>,
    /// Fuel for each decision, when limited.
    fuel: Option<u64>,
}

/// A reason with the sort key of its rule's place in the policy.
type Keyed<'p> = ((u32, u32, u32), RuleReason<'p>);

/// What a call of the module left to read: its result, the number of output records, and
/// the principal id it decided for when the module computed it (from an identity's claims).
struct Ran {
    result: i32,
    records: usize,
    principal: Option<String>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One 24-byte output record as six little-endian words.
fn record(bytes: &[u8]) -> [u32; 6] {
    let mut r = [0u32; 6];
    for (slot, w) in r.iter_mut().zip(bytes.chunks_exact(4)) {
        if let Ok(b) = <[u8; 4]>::try_from(w) {
            *slot = u32::from_le_bytes(b);
        }
    }
    r
}

/// Reads the `rbac.meta` custom section.
fn read_meta(bytes: &[u8]) -> Result<Meta, WasmError> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::CustomSection(c) = payload.map_err(WasmError::not_module)?
            && c.name() == SECTION
        {
            return serde_json::from_slice(c.data())
                .map_err(|e| WasmError::not_module(format!("bad `{SECTION}` section: {e}")));
        }
    }
    Err(WasmError::not_module(format!(
        "the module has no `{SECTION}` section; build it with `rbac build --target wasm`"
    )))
}

impl WasmPolicy {
    /// Loads a module emitted by [`super::emit`](fn@super::emit), with no limit on a
    /// decision's running time: the module is the policy, and an emitted module's loops are
    /// all bounded by the request (at most [`INPUT_CAP`] bytes) and its own tables. Fuel would
    /// cost each decision about 40% more; ask for it with [`WasmPolicy::with_fuel`] for
    /// modules you do not trust to stop. A module whose bytes do not match the `rbac.sha256`
    /// digest it ends with (docs/wasm-abi.md) is refused.
    pub fn new(bytes: &[u8]) -> Result<WasmPolicy, WasmError> {
        WasmPolicy::load(bytes, None)
    }

    /// Loads a module and gives each decision `fuel` units of wasmtime fuel (about one per
    /// WebAssembly instruction; [`DEFAULT_FUEL`] is above what any valid request needs).
    /// A decision that runs out traps, and a trap denies. Loading has a budget of its own.
    pub fn with_fuel(bytes: &[u8], fuel: u64) -> Result<WasmPolicy, WasmError> {
        WasmPolicy::load(bytes, Some(fuel))
    }

    fn load(bytes: &[u8], fuel: Option<u64>) -> Result<WasmPolicy, WasmError> {
        super::meta::check_seal(bytes)?;
        let meta = read_meta(bytes)?;
        let mut config = Config::new();
        config.cranelift_opt_level(OptLevel::Speed);
        // The runtime is many small functions (table probes, string compares); inlining them
        // makes a decision about a third cheaper.
        config.compiler_inlining(Inlining::Yes);
        config.consume_fuel(fuel.is_some());
        let engine = Engine::new(&config).map_err(WasmError::not_module)?;
        let module = Module::from_binary(&engine, bytes).map_err(WasmError::not_module)?;
        let limits = StoreLimitsBuilder::new().memory_size(MEMORY_LIMIT).instances(1).build();
        let mut store = Store::new(&engine, limits);
        store.limiter(|l| l);
        // Loading has its own budget: `fuel` is each decision's (a tiny one made loading fail,
        // and the module was said to be no policy module).
        if fuel.is_some() {
            store.set_fuel(DEFAULT_FUEL).map_err(WasmError::not_module)?;
        }
        let instance = Instance::new(&mut store, &module, &[]).map_err(WasmError::not_module)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| WasmError::not_module("the module exports no `memory`"))?;
        let get = |store: &mut Store<StoreLimits>, name: &str| -> Result<TypedFunc<(), i32>, WasmError> {
            instance.get_typed_func::<(), i32>(store, name).map_err(|e| WasmError::not_module(format!("`{name}`: {e}")))
        };
        let version = get(&mut store, "rbac_abi_version")?.call(&mut store, ()).map_err(WasmError::not_module)?;
        if version != 1 {
            return Err(WasmError::new(
                "E0903",
                format!("the module speaks ABI version {version}; this host speaks 1"),
            ));
        }
        let input_ptr = get(&mut store, "rbac_input_ptr")?.call(&mut store, ()).map_err(WasmError::not_module)?;
        let output_ptr = get(&mut store, "rbac_output_ptr")?.call(&mut store, ()).map_err(WasmError::not_module)?;
        let role = |r: &u32| meta.roles.get(*r as usize).cloned().unwrap_or_default();
        let chain_names = meta.chains.iter().map(|c| c.iter().map(role).collect()).collect();
        let group_subjects = meta.groups.iter().map(|g| format!("group:{g}")).collect();
        Ok(WasmPolicy {
            chain_names,
            group_subjects,
            decide: instance.get_typed_func::<i32, i32>(&mut store, "rbac_decide").map_err(WasmError::not_module)?,
            output_len: get(&mut store, "rbac_output_len")?,
            principal_ptr: get(&mut store, "rbac_principal_ptr")?,
            principal_len: get(&mut store, "rbac_principal_len")?,
            input_ptr: usize::try_from(input_ptr).map_err(WasmError::not_module)?,
            output_ptr: usize::try_from(output_ptr).map_err(WasmError::not_module)?,
            store,
            memory,
            meta,
            fuel,
        })
    }

    /// What the module's `rbac.meta` section says: its names, identities and rules (for
    /// [`encode_for`](super::encode_for), or a host of one's own).
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Decides a request through the module. The reasons borrow the names the module carries
    /// ([`Decision::into_owned`] keeps a decision past the next one).
    pub fn decide(&mut self, req: &Request) -> Decision<'_> {
        // Tokens are verified before any engine sees them (`identity::TokenVerifier`).
        if let Principal::Token(_) = &req.principal {
            return Decision::invalid(vec![crate::identity::unverified()]);
        }
        let failed =
            |e: String| Decision::invalid(vec![RequestError::new("E0707", format!("the policy module failed: {e}"))]);
        let ran = match self.run(req) {
            Ok(Ok(ran)) => ran,
            Ok(Err(decision)) => return decision,
            Err(e) => return failed(e),
        };
        match self.read(req, &ran) {
            Ok(mut d) => {
                self.add_sources(req, &mut d);
                d
            }
            Err(e) => failed(e),
        }
    }

    /// For an identity principal, which identity, claim and claim value gave each group a
    /// reason names (from the aliases in `rbac.meta`), as the native evaluator says.
    fn add_sources(&self, req: &Request, decision: &mut Decision<'_>) {
        let Principal::Identity(p) = &req.principal else { return };
        let Some(ident) = self.meta.identities.iter().find(|i| i.name == p.identity) else { return };
        let aliases = |value: &str| -> Vec<&str> {
            let Ok(at) = ident.aliases.binary_search_by(|(v, _)| v.as_str().cmp(value)) else { return Vec::new() };
            let groups = ident.aliases.get(at).map_or(&[][..], |(_, gs)| gs.as_slice());
            groups.iter().filter_map(|g| self.meta.groups.get(*g as usize)).map(String::as_str).collect()
        };
        let sources = crate::identity::group_sources(&ident.name, ident.groups_claim.as_deref(), aliases, &p.claims);
        crate::identity::add_sources(decision, &sources);
    }

    /// Runs the module on raw input bytes (already encoded, or arbitrary: for testing that
    /// malformed input is always denied). Returns what `rbac_decide` returned, or the trap.
    #[doc(hidden)]
    pub fn decide_raw(&mut self, input: &[u8]) -> Result<i32, String> {
        let cap = INPUT_CAP as usize;
        let len = i32::try_from(input.len()).map_err(err)?;
        self.memory.write(&mut self.store, self.input_ptr, input.get(..cap).unwrap_or(input)).map_err(err)?;
        self.refuel()?;
        self.decide.call(&mut self.store, len).map_err(err)
    }

    fn refuel(&mut self) -> Result<(), String> {
        match self.fuel {
            Some(f) => self.store.set_fuel(f).map_err(err),
            None => Ok(()),
        }
    }

    /// Encodes the request into the module's input and runs it: what it left to read, or
    /// the decision on a request too large to encode.
    fn run(&mut self, req: &Request) -> Result<Result<Ran, Decision<'static>>, String> {
        // The request is encoded straight into the module's input buffer.
        let data = self.memory.data_mut(&mut self.store);
        let end = (self.input_ptr + INPUT_CAP as usize).min(data.len());
        let mut input = Window { buf: data.get_mut(self.input_ptr..end).unwrap_or_default(), len: 0 };
        encode_to(req, Some(&self.meta), &mut input);
        if input.len > INPUT_CAP as usize {
            return Ok(Err(Decision::invalid(vec![RequestError::new(
                "E0706",
                format!("the request is {} bytes encoded; a module accepts at most {INPUT_CAP}", input.len),
            )])));
        }
        let len = i32::try_from(input.len).map_err(err)?;
        self.refuel()?;
        let result = self.decide.call(&mut self.store, len).map_err(err)?;
        let records = usize::try_from(self.output_len.call(&mut self.store, ()).map_err(err)?).map_err(err)?;
        // The module decides for the request's id; only an identity principal's is computed.
        let principal = match &req.principal {
            Principal::Direct(_) => None,
            Principal::Identity(_) | Principal::Token(_) => Some(self.principal()?),
        };
        Ok(Ok(Ran { result, records, principal }))
    }

    /// The decision the module's output records say, its reasons borrowing this policy's names.
    fn read(&self, req: &Request, ran: &Ran) -> Result<Decision<'_>, String> {
        let (result, n) = (ran.result, ran.records);
        let principal = match (&req.principal, &ran.principal) {
            (_, Some(computed)) => computed.as_str(),
            (Principal::Direct(p), None) => p.id.as_str(),
            (Principal::Identity(_) | Principal::Token(_), None) => "",
        };
        let data = self.memory.data(&self.store);
        let raw = data.get(self.output_ptr..self.output_ptr + n * 24).ok_or("the module's output is out of bounds")?;
        let records = || raw.chunks_exact(24).map(record);
        if result < 0 {
            let errors = records().filter(|r| r[0] == 5).map(|r| self.error(req, r[1], r[2], r[3])).collect();
            return Ok(Decision::invalid(errors));
        }
        if records().any(|r| r[0] == 4) {
            let exclusive: std::collections::BTreeSet<String> =
                records().filter(|r| r[0] == 4).map(|r| self.role(r[2])).collect();
            return Ok(Decision {
                decision: Effect::Deny,
                errors: Vec::new(),
                reasons: vec![Reason::Exclusive { roles: exclusive.into_iter().collect() }].into(),
            });
        }
        let of_kind = |k: u32| {
            // Ordered in place (most decisions have one or two reasons), then written out.
            let mut rs: smallvec::SmallVec<[Keyed<'_>; 2]> =
                records().filter(|r| r[0] == k).map(|r| self.rule_reason(&r, principal)).collect();
            rs.sort_by(|a, b| {
                crate::eval::reason_order(crate::eval::reason_key(a.0, &a.1), crate::eval::reason_key(b.0, &b.1))
            });
            rs.dedup_by(|a, b| a.1 == b.1);
            rs.into_iter().map(|(_, r)| r)
        };
        Ok(if result == 1 {
            Decision { decision: Effect::Allow, errors: Vec::new(), reasons: of_kind(1).map(Reason::Allow).collect() }
        } else if records().any(|r| r[0] == 2) {
            Decision { decision: Effect::Deny, errors: Vec::new(), reasons: of_kind(2).map(Reason::Deny).collect() }
        } else if !records().any(|r| r[0] == 3) {
            // A default deny with nothing skipped (most decisions) allocates nothing.
            Decision { decision: Effect::Deny, errors: Vec::new(), reasons: Reasons::no_rule() }
        } else {
            let mut reasons = vec![Reason::NoRule];
            reasons.extend(of_kind(3).map(Reason::Skipped));
            Decision { decision: Effect::Deny, errors: Vec::new(), reasons: reasons.into() }
        })
    }

    fn principal(&mut self) -> Result<String, String> {
        let ptr = usize::try_from(self.principal_ptr.call(&mut self.store, ()).map_err(err)?).map_err(err)?;
        let len = usize::try_from(self.principal_len.call(&mut self.store, ()).map_err(err)?).map_err(err)?;
        let bytes =
            self.memory.data(&self.store).get(ptr..ptr + len).ok_or("the module's principal is out of bounds")?;
        String::from_utf8(bytes.to_vec()).map_err(err)
    }

    fn role(&self, r: u32) -> String {
        self.meta.roles.get(r as usize).cloned().unwrap_or_default()
    }

    /// A rule record's reason, borrowing this policy's names (only the principal's id is
    /// copied, as the native evaluator copies it).
    fn rule_reason(&self, r: &[u32; 6], principal: &str) -> Keyed<'_> {
        let rule = self.meta.rules.get(r[1] as usize);
        let subject = match r[3] {
            0 => Cow::Owned(principal.to_string()),
            1 => Cow::Borrowed("everyone"),
            g => Cow::Borrowed(self.group_subjects.get(g as usize - 2).map_or("group:?", String::as_str)),
        };
        let reason = RuleReason {
            role: Cow::Borrowed(rule.and_then(|x| self.meta.roles.get(x.role as usize)).map_or("", String::as_str)),
            via: Cow::Borrowed(self.chain_names.get(r[2] as usize).map_or(&[][..], Vec::as_slice)),
            subject,
            scope: self.meta.nodes.get(r[4] as usize).and_then(Option::as_deref).map(Cow::Borrowed),
            at: Cow::Borrowed(rule.map_or("", |x| x.at.as_str())),
            unevaluable: match r[5] {
                0 => Vec::new(),
                s => self.meta.slots.get(s as usize - 1).cloned().into_iter().collect(),
            },
            source: None,
        };
        (rule.map_or((0, 0, 0), |x| x.at_key), reason)
    }

    /// The message of an error record, worded as the native evaluator words it.
    fn error(&self, req: &Request, code: u32, d1: u32, d2: u32) -> RequestError {
        let path = &req.resource.path;
        let parts = crate::path::parse(path);
        let names: Vec<&str> =
            parts.as_ref().map(|p| p.segments.iter().map(|(t, _)| *t).chain(p.bare).collect()).unwrap_or_default();
        let type_name = |t: u32| self.meta.types.get(t as usize).map_or("?", |t| t.name.as_str());
        let ident = self.meta.identities.get(d2 as usize);
        match code {
            711 => match &req.principal {
                Principal::Direct(p) => invalid::principal_id(&p.id),
                Principal::Identity(_) | Principal::Token(_) => invalid::principal_id(""),
            },
            712 => match &req.principal {
                Principal::Identity(p) => invalid::unknown_identity(&p.identity),
                Principal::Direct(_) | Principal::Token(_) => invalid::unknown_identity(""),
            },
            713 => {
                let (claim, name) = ident.map_or(("sub", ""), |i| (i.user_claim.as_str(), i.name.as_str()));
                match d1 {
                    0 => invalid::user_claim_missing(claim),
                    1 => invalid::user_claim_not_string(claim, name),
                    _ => invalid::user_claim_empty(claim, name),
                }
            }
            714 => invalid::groups_claim(ident.and_then(|i| i.groups_claim.as_deref()).unwrap_or("groups")),
            721 => invalid::malformed_path(path, parts.as_ref().err().map_or("malformed", String::as_str)),
            722 => invalid::unknown_type(names.get(d1 as usize).copied().unwrap_or("?"), path),
            723 => {
                let parent = self.meta.types.get(d2 as usize).and_then(|t| t.parent).map(type_name);
                invalid::off_tree(path, names.get(d1 as usize).copied().unwrap_or("?"), parent)
            }
            731 => invalid::action(&req.action, type_name(d1)),
            741 => self.attr_error(req, &names, d2),
            705 => RequestError::new("E0705", "the encoded request is malformed"),
            706 => RequestError::new("E0706", "the encoded request is larger than the module accepts"),
            other => RequestError::new("E0705", format!("the module reported error {other}")),
        }
    }

    fn attr_error(&self, req: &Request, names: &[&str], ordinal: u32) -> RequestError {
        let principal_attrs = match &req.principal {
            Principal::Direct(p) => &p.attrs,
            Principal::Identity(p) => &p.attrs,
            Principal::Token(p) => &p.attrs,
        };
        let all = principal_attrs
            .iter()
            .map(|(k, v)| ("principal", k, v))
            .chain(req.resource.attrs.iter().map(|(k, v)| ("resource", k, v)))
            .chain(req.context.iter().map(|(k, v)| ("context", k, v)));
        let Some((entity, name, value)) = all.into_iter().nth(ordinal as usize) else {
            return RequestError::new("E0741", "an attribute has the wrong type");
        };
        let target = names.last().and_then(|n| self.meta.types.iter().find(|t| t.name == *n));
        let declared = match entity {
            "principal" => self.meta.principal_attrs.iter().find(|(k, _)| k == name),
            "context" => self.meta.context_attrs.iter().find(|(k, _)| k == name),
            _ => target.and_then(|t| t.attrs.iter().find(|(k, _)| k == name)),
        };
        invalid::attr_type(entity, name, declared.map_or("?", |(_, t)| t.as_str()), value)
    }
}
