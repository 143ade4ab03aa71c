//! The catalogue of diagnostic and request-error codes, with the long explanations that
//! `rbac explain CODE` prints. Codes are never reused.

/// One code: its short title and its long explanation with an example.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    /// The code: `E` (error) or `W` (warning) and four digits, such as `E0101`.
    pub code: &'static str,
    /// The short title, such as `syntax error`.
    pub title: &'static str,
    /// The long explanation with an example, as `rbac explain CODE` prints it.
    pub explanation: &'static str,
}

macro_rules! codes {
    ($($code:literal, $title:literal, $text:literal;)*) => {
        /// Every code, in order.
        pub const CODES: &[CodeInfo] = &[$(CodeInfo { code: $code, title: $title, explanation: $text }),*];
    };
}

codes! {
"E0101", "syntax error",
"The text does not follow the grammar (design section 3). The parser reports the first place
where no rule of the grammar can go on, and what it expected there, then resumes at the next
line that starts an item (`role`, `assign`, `resource`, ...) to report later errors too, up to
20 per file. A file with a syntax error is not checked further. A `;` left off at the end of a
line shows as the next line's first token; the error then also marks the end of the line it
belongs to. A string, block comment or `{` left open is shown where it opens, and a misspelt
keyword (or one of another policy language, such as Cedar's `permit`, `and`, `or`, `boolean`)
gets a suggestion; a keyword matches only as a whole word, so `resources` is found whole and
`resource` suggested. Where a keyword such as `on`, `to` or `when` is left out, the help says
which, rather than asking for a comma.

    role viewer { allow read on }      // error: expected a name, found `}`
    role viewer { allow read on *; }   // fixed";
"E0102", "integer literal out of range",
"Integers are 64-bit signed. A literal outside -9223372036854775808..=9223372036854775807 is
an error.

    role r { allow read on doc when resource.size < 99999999999999999999; }";
"E0103", "invalid unicode escape",
"`\\u{HEX}` in a string must name a unicode scalar value (not a surrogate, at most 10FFFF).

    test \"\\u{D800}\" { }   // error";
"E0104", "nesting too deep",
"Parentheses, `!` and `set<...>` may nest at most 200 levels deep. Deeper nesting is almost
certainly generated or hostile input; it is rejected before parsing so it can never exhaust
the stack.

    role r { allow read on doc when ((((((...context.x...)))))); }   // error past 200 levels";
"E0105", "misleading character",
"A character that shows otherwise than the parser reads it: a carriage return not followed by
a line feed (terminals and editors show a line break, while the parser reads on: the rest of a
`//` comment's line would hide a rule), a vertical tab, form feed, U+0085, U+2028 or U+2029
(line and page breaks the parser does not count), a bidirectional-text control (U+061C,
U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), which reorders what is shown, an invisible
character outside comments (U+00AD, U+034F, U+115F, U+1160, U+17B4, U+17B5, U+180E,
U+200B-U+200D, U+2060-U+2064, U+3164, U+FEFF but as the file's first character, U+FFA0;
`user:\"bob<U+200B>\"` shows as `user:\"bob\"` and is another user), or any other control
character but tab (an escape sequence would act on the terminal that shows the line). A file
with one is not parsed. Use `\\n` or `\\r\\n` line endings; inside a string, write such a
character as an escape.

    // shared stacks<CR>deny read_value on secret;   // error: one comment line to the parser
    assign blocked to user:\"bob<U+200B>\";        // error: shows as user:\"bob\"
    test \"\\u{202E}\" { }                          // fine: an escape";
"E0201", "unknown role",
"A role named in `extends`, `assign` or `exclusive` is not declared. The help suggests the
closest declared name.

    role viewer { allow read on *; }
    assign veiwer to user:ann;   // error: unknown role `veiwer`; did you mean `viewer`?";
"E0202", "unknown resource type",
"A type named after `in`, in a rule, or in a path is not declared with `resource`.

    resource workspace;
    resource project in worksapce;   // error: did you mean `workspace`?";
"E0203", "unknown action",
"An action or action set named in a rule or a test is declared nowhere: no resource lists it
and no `actions` set has that name.

    resource doc { actions read; }
    role r { allow raed on doc; }   // error: did you mean `read`?";
"E0204", "unknown group",
"A group named in an assignment, a condition or a test is not declared with `group`.

    group admins;
    assign viewer to group:admin;   // error: did you mean `admins`?";
"E0205", "unknown identity",
"A group alias names an identity that has no `identity` block.

    group ml from okta \"ML\";   // error unless `identity okta { ... }` exists";
"E0206", "unknown attribute",
"A condition or a test reads an attribute that is not declared: `principal.x` and `context.x`
need `principal { attributes { x: T } }` / `context { ... }`; `resource.x` needs `x` in the
`attributes` of the resource type.

    context { attributes { mfa: bool } }
    role r { allow run on pipeline when context.mfaa; }   // error: did you mean `mfa`?";
"E0207", "duplicate definition",
"Two declarations of one kind share a name (roles, resource types, groups, identities, action
sets). Both places are shown.

    role viewer { allow read on *; }
    role viewer { allow list on *; }   // error: role `viewer` is defined twice";
"E0208", "unknown module",
"`use std::NAME;` names a module the standard library does not have. The standard library
has `std::crud` (`actions crud = create, read, update, delete;` and `actions cruds = crud, share;`).

    use std::crudd;   // error";
"E0209", "file cannot be read",
"A policy file, or a file named by `use \"file.rbac\";`, cannot be read. `use` paths are
relative to the file that says them. Commands give the same code for another file they read
that cannot be read: `eval`'s requests, `audit`'s log, a bundle, a `--jwks` key set, a
`--token` file.

    use \"roles/common.rbac\";   // error when that file does not exist";
"E0210", "attribute named `id`",
"`principal.id` and `resource.id` are built in (strings with the whole id); declaring an
attribute named `id` is an error.

    principal { attributes { id: string } }   // error";
"E0301", "action not declared on the rule's types",
"Every action name written in a rule must give at least one (action, type) pair that exists
with the rule's types. Pairs that do not exist are dropped silently, but a name that gives
none is a mistake.

    resource pipeline { actions run; }
    resource model { actions promote; }
    role r { allow promote on pipeline; }   // error: `promote` is declared on `model`";
"E0302", "attribute declared with two types",
"One attribute of one entity has two declarations with different types. Repeated
`principal {}` and `context {}` blocks merge, so the same attribute may appear twice only with
one type.

    principal { attributes { level: int } }
    principal { attributes { level: string } }   // error";
"E0303", "action set contains itself",
"An action set expands, directly or through other sets, to itself.

    actions a = read, b;
    actions b = write, a;   // error";
"E0304", "comparison of different types",
"`==` and `!=` need both sides of one type (sets compare as sets; `[]` fits any set).

    resource doc { actions read; attributes { level: int } }
    role r { allow read on doc when resource.level == \"high\"; }   // error: int vs string";
"E0305", "ordering needs integers",
"`<`, `<=`, `>`, `>=` compare `int` values only.

    role r { allow read on doc when resource.owner > 3; }   // error when owner is a string";
"E0306", "`in` needs an element and a set of its type",
"`e in S` needs `S` to be a `set<T>` and `e` a `T`. For group membership write
`principal in group:g`.

    role r { allow read on doc when \"a\" in resource.level; }   // error: level is an int";
"E0307", "boolean operator on a non-bool",
"`&&`, `||` and `!` need `bool` operands.

    role r { allow read on doc when resource.owner && context.mfa; }   // error";
"E0308", "condition is not a bool",
"A `when` condition must be a `bool`.

    role r { allow read on doc when resource.owner; }   // error: a string";
"E0309", "resource attribute not declared on every type the rule applies to",
"A `resource.x` read must be declared, with one type, on every type the rule applies to (its
types on which one of its actions is declared), or the condition could not be typed.

    resource pipeline { actions read; attributes { owner: string } }
    resource stack { actions read; }
    role r { allow read on pipeline, stack when resource.owner == principal.id; }   // error";
"E0310", "misplaced `group:g`",
"`group:g` may only stand on the right of `principal in`.

    role r { allow read on doc when group:admins; }   // error
    role r { allow read on doc when principal in group:admins; }   // fixed";
"E0311", "`has` needs an entity",
"The left of `has` is `principal`, `resource` or `context`.

    role r { allow read on doc when resource.owner has x; }   // error
    role r { allow read on doc when resource has owner; }      // fixed";
"E0312", "list mixes element types",
"A list literal is a `set` of one element type.

    role r { allow read on doc when resource.level in [1, \"two\"]; }   // error";
"E0313", "test action not declared on the target type",
"An `expect` asks for an action the target type (the last segment's type) does not declare.

    resource doc { actions read; }
    test \"t\" { expect allow user:a write doc:x; }   // error (when `write` exists elsewhere)";
"E0314", "test attribute value of the wrong type",
"A `with { ... }` value does not have the attribute's declared type.

    context { attributes { mfa: bool } }
    test \"t\" { expect allow user:a read doc:x with { context.mfa: \"yes\" }; }   // error";
"E0315", "`*` outside a rule",
"`*` stands for every action or type only in rules; a resource's or a set's `actions` list
names actions and sets.

    resource doc { actions *; }   // error";
"E0316", "entity used as a value",
"`principal`, `resource` and `context` alone are not values: read an attribute, use `has`,
or test `principal in group:g`.

    role r { allow read on doc when principal == \"user:a\"; }      // error
    role r { allow read on doc when principal.id == \"user:a\"; }   // fixed";
"E0317", "attribute given twice",
"A test's `with` gives the same attribute twice; which value was meant is unclear (a request
in JSON may not give a key twice either: E0701).

    expect allow user:a read doc:d with { resource.level: 2, resource.level: 3 };   // error";
"E0401", "role inheritance cycle",
"Role inheritance must be a DAG. Every role and every `extends` edge of the cycle is shown;
a role that extends itself is a cycle too.

    role a extends c { }
    role b extends a { }
    role c extends b { }   // error: cycle among `a`, `b`, `c`";
"E0402", "role inheritance too large",
"Resolving inherited rules keeps, for every role, the `extends` chain from it to each of its
ancestors (the `via` of a reason). Their total length grows with the cube of a hierarchy's
depth: a line of 1,000 roles, each extending the one before, would take 170 million entries
and many GiB. Past 5 million the policy is refused instead, naming the role at which the total
passed the limit and its longest chain. Real hierarchies are a few levels deep; extend a few
base roles rather than a long line of roles.

    role r1 { allow read on doc; }
    role r2 extends r1 { }
    ...
    role r500 extends r499 { }   // error: role inheritance is too large to resolve";
"E0501", "resource types contain each other",
"`resource X in P` forms a forest: the `in` chain must end at a root type.

    resource a in b;
    resource b in a;   // error";
"E0502", "path does not follow the resource tree",
"A path starts at a root type and each segment's type is declared `in` the previous one.

    resource workspace;
    resource project in workspace;
    assign viewer to user:a on project:churn;   // error: write workspace:prod/project:churn";
"E0503", "assignment scope ends in a bare type",
"An assignment's scope is a resource: it ends in a whole `type:id` segment. A bare type is
allowed only as the target of a request (a resource not yet created).

    assign viewer to user:a on workspace:prod/project;   // error";
"E0504", "exclusive set lists a role and its ancestor",
"Anyone holding a role holds its ancestors, so a set with both could never be satisfied.

    role viewer { allow read on *; }
    role editor extends viewer { allow update on *; }
    exclusive viewer, editor;   // error";
"E0505", "role inherits two roles of one exclusive set",
"A role that extends two roles of one `exclusive` set would always hold both.

    exclusive approver, deployer;
    role release_manager extends approver, deployer { }   // error";
"E0506", "static subject holds exclusive roles on overlapping scopes",
"A literal subject of the assignments (a user, service or group; `everyone` counts for all)
holds two roles of one `exclusive` set on overlapping scopes (one equal to or inside the
other), counting inheritance. Group membership is dynamic and is checked at decision time.
Each assignment that clashes with an earlier one is one error, naming the first it clashes with.

    exclusive approver, deployer;
    assign approver to user:bob on workspace:prod;
    assign deployer to user:bob on workspace:prod/project:x;   // error";
"E0507", "role listed twice in an exclusive set",
"An `exclusive` set names the same role twice.

    exclusive approver, approver;   // error";
"E0508", "principal without a name",
"`user:` or `service:` must be followed by a name: an empty one (`user:\"\"`) names no
principal any valid request can have (a request's principal id needs a name, E0711), so the
assignment would never apply and the test could never pass.

    assign viewer to user:\"\";   // error
    assign viewer to user:ann;  // fixed";
"E0601", "identity without a user claim",
"An `identity` block must say which claim names the user.

    identity okta { issuer \"https://acme.okta.com\"; }   // error
    identity okta { user from claim \"email\"; }            // fixed";
"E0602", "duplicate identity alias",
"One group names the same claim value of one identity twice. (Two different groups may share
a value: a principal whose claims carry it gets both groups.)

    group eng from okta \"Engineers\", okta \"Engineers\";   // error";
"E0603", "identity member given twice",
"`issuer`, `audience`, `user from claim` and `groups from claim` may each appear once in an
identity block.

    identity okta {
        issuer \"https://acme.okta.com\";
        issuer \"https://acme.okta.com/oauth2/default\";   // error: given twice
    }";
"E0604", "two identities accept the same tokens",
"A token selects its identity by its `iss` and, among identities with that issuer, by its
`aud`. Two identities with one issuer must therefore both name an audience, and different
ones; otherwise a token would belong to both.

    identity okta    { issuer \"https://acme.okta.com\"; user from claim \"email\"; }
    identity okta_ci { issuer \"https://acme.okta.com\"; user from claim \"sub\"; }   // error
    // fixed: `audience \"zenml\";` in one and `audience \"ci\";` in the other";
"E0605", "issuer is not an https URL",
"An `issuer` is compared exactly with the `iss` claim of tokens and is where OIDC discovery
looks for keys (`ISSUER/.well-known/openid-configuration`), so it is an `https://` URL
(`http://` is accepted for local test providers) with a host and no user name or password
(`http://localhost:80@example.com` goes to `example.com`), query or fragment.

    identity okta { issuer \"acme.okta.com\"; user from claim \"email\"; }   // error
    identity okta { issuer \"https://acme.okta.com/oauth2/default\"; user from claim \"email\"; }";
"E0606", "empty claim name",
"`user from claim` and `groups from claim` name a claim of the tokens; a dotted name reads a
nested claim (`realm_access.roles`). An empty name names none.

    identity kc { user from claim \"\"; }   // error";
"E0701", "malformed JSON request",
"A request is not valid JSON. The decision is deny.";
"E0702", "request field of the wrong JSON type",
"A request field has the wrong JSON type (`principal.groups` must be a list of strings,
`action` a string, ...). The decision is deny.";
"E0703", "request lacks a key",
"A request lacks `principal`, `action` or `resource` (or `principal.id`, `resource.path`).
The decision is deny.";
"E0704", "unknown key in a request",
"A request has a key the design does not define (design section 5.4). The decision is deny:
a misspelt `context` must never silently drop attributes.";
"E0706", "request too large",
"A request is larger than the engine reads: in `rbac eval`, more than 1 MiB (one line, or a
document over several lines); through the WebAssembly module, an encoded request larger than
its input buffer (`rbac_input_cap`, docs/wasm-abi.md). It is not read, and the decision is
deny. `rbac eval` goes on at the next line; its audit log records the request as
`{\"oversize\": BYTES}`.";
"E0705", "the policy module rejected the request",
"The WebAssembly policy module (`--engine wasm`, `rbac::wasm::WasmPolicy`, the Node and Python
hosts) reported that the request it was given is malformed or uses an encoding it does not
know (docs/wasm-abi.md lists the result codes). The request was encoded by the host, so this
points at a host and module of different versions. The decision is deny.";
"E0707", "the policy module failed",
"The WebAssembly policy module trapped or could not be run (out of fuel or memory, a missing
export): the decision is deny, with the engine's message. Rebuild the module with the `rbac`
that hosts it (`rbac build --target wasm`).";
"E0711", "bad principal id",
"A principal id starts with `user:` or `service:`. The decision is deny.";
"E0712", "unknown identity",
"An identity principal names an identity the policy does not declare. The decision is deny.";
"E0713", "user claim missing",
"An identity principal's claims lack the user claim, or it is not a string. Deny.";
"E0714", "groups claim is not a list of strings",
"An identity principal's groups claim is present but not a list of strings. It is never read
as an empty list: the decision is deny.";
"E0721", "malformed resource path",
"A request's path is not `type:id/type:id[/type]` (ids with other characters than
`[A-Za-z0-9_.@+-]` must be quoted). Deny.";
"E0722", "unknown type in a request path",
"A request's path names a type the policy does not declare. Deny.";
"E0723", "request path does not follow the tree",
"A request's path does not start at a root type or a segment is not inside the previous
one. Deny.";
"E0731", "action not declared on the target type",
"The requested action is not declared on the target type (the last segment's type). Deny.";
"E0741", "attribute of the wrong type",
"A declared attribute has a value of the wrong JSON type (`set` values are arrays, `int`
integers, `bool` booleans). Deny. Undeclared attributes are ignored; `null` counts as missing.";
"E0742", "prepared part of another policy",
"`Policy::check` was given a subject or target that another `Policy` value resolved
(`Policy::subject`, `Policy::target`); their tables point into that policy. Deny. Prepare
them with the policy that decides (a clone of a policy is another policy).";
"E0751", "malformed token",
"A token principal's `token` is not a signed JWT: not three base64url parts, a header or
payload that is not a JSON object (or gives a key twice: a second `email` after the real
one must not decide who the token is), no `alg`, critical header extensions (`crit`), or an
encrypted token (JWE, five parts). Also a token over 64 KiB, and a `--token` file (or
standard input) over 68 KiB, refused unread. Deny.";
"E0752", "unsigned token",
"The token's header says `\"alg\": \"none\"`: it carries no signature, so anyone could have
written it. Deny, always.";
"E0753", "token algorithm not accepted",
"The token's `alg` is a symmetric algorithm (HS256, HS384, HS512) or one this verifier does
not know. Symmetric algorithms are never accepted: an issuer's keys are public, so a token
\"signed\" with HMAC using a public key as the secret proves nothing. Accepted: RS256, RS384,
RS512, PS256, PS384, PS512, ES256, ES384, EdDSA. Deny.";
"E0754", "token algorithm does not fit the key",
"The key the token names (`kid`) is for another algorithm: its own `alg` differs from the
token's, or it is another kind of key (an RSA key for an ES256 token, ...). Deny.";
"E0755", "unknown key",
"The token names a key id (`kid`) that the issuer's key set does not have, even after fetching
the keys again (the issuer may have rotated them), or it names no key id and the issuer has no
key for its algorithm, or more than eight (each key tried is a signature check that a forged
token costs nothing to ask for: an issuer with that many keys must have its tokens name
theirs). Deny.";
"E0756", "bad signature",
"The token's signature does not verify with the issuer's key: the token was altered after it
was signed, or signed with another key. Deny.";
"E0757", "token expired",
"The token's `exp` is in the past, by more than the leeway (60 s by default; `--leeway`). Deny.";
"E0758", "token not yet valid",
"The token's `nbf` is in the future, by more than the leeway. Deny.";
"E0759", "wrong audience",
"The token's `aud` does not include the identity's `audience` (or the token has no `aud`), or,
among identities sharing the token's issuer, it matches none or several. Deny.";
"E0760", "unknown issuer",
"The token's `iss` is not the `issuer` of any identity of the policy, or the token has no
`iss`. The issuer selects the identity, so such a token belongs to none. Deny.";
"E0761", "keys unavailable",
"The keys of the token's issuer cannot be had: no `--jwks` file for it, OIDC discovery failed
(unreachable issuer, a discovery document naming another issuer, plain http to a host that is
not loopback), or the key cannot be used. Deny.";
"E0762", "token lacks a required claim",
"A verified token must have `exp` (a token without `iss` selects no identity, E0760; without
`aud` where the identity has an `audience`, E0759); `exp` and `nbf` are non-negative numbers
of seconds (a fraction is allowed). Deny.";
"E0763", "unverified token",
"A request names its principal by a token but was decided without a verifier: library users
call `Policy::decide_with` with an `identity::TokenVerifier`; the CLI always verifies. Deny.";
"E0764", "not a JSON Web Key Set",
"A key set given to `--jwks FILE` (or to `identity::Jwks::from_json`) is not JSON, or not an
object with a `keys` list (RFC 7517), or the file is over 1 MiB (refused unread). Nothing is decided with it: the command stops before
reading requests. Keys in the list that cannot verify signatures (encryption keys, `key_ops`
without `verify`, symmetric `oct` keys, RSA keys under 2048 bits, unknown types) or are
ill-formed (a `kid`, `use` or `alg` that is not a string) are left out with a warning, not
this error.

    {\"keys\": [{\"kty\": \"RSA\", \"kid\": \"k1\", \"n\": \"...\", \"e\": \"AQAB\"}]}";
"E0801", "not a policy bundle",
"The bytes given to `Policy::from_bundle` do not start with the bundle magic
(`\\x89RBAC\\r\\n\\x1a`, docs/bundle.md). The command line reads a file that starts with the magic as
a bundle and any other file as `.rbac` source, so this comes from library callers that pass
something else, such as policy text.

    rbac build policy.rbac --target bundle -o policy.rbacb
    rbac can policy.rbacb user:ann read workspace:prod";
"E0802", "unsupported bundle format version",
"The bundle was written in a format version this `rbac` does not read, usually by an older or
newer release. Bundles are tied to the format version of the `rbac` that wrote them (it changes
whenever the compiled tables change): build the bundle again from the sources with this `rbac`.

    rbac build policy.rbac --target bundle -o policy.rbacb   // with the rbac that will load it";
"E0803", "truncated bundle",
"The bundle is shorter (or longer) than its header says: it was cut off while being written or
copied, or something was appended to it. Copy it again, or build it again from the sources.";
"E0804", "bundle checksum mismatch",
"The SHA-256 of the bundle's payload is not the one its header records: some byte was changed
after the bundle was written (a disk or transfer error, or an edit). Nothing of it is used.
Build it again from the sources. The checksum detects corruption, not forgery: whoever can
write a bundle can write a valid one, so keep bundles where only trusted writers reach them.";
"E0805", "malformed bundle",
"The bundle's checksum is right but its payload does not decode, or a table in it is not whole
(an id that points outside its table, an index out of order). Such a bundle was not written by
`rbac build --target bundle` of this version. Build it again from the sources.";
"E0901", "too large for the WebAssembly target",
"The policy compiles, but a module cannot hold it: the module packs an attribute's slot in 16
bits (at most 65,535 attribute names over the principal, resource types and context), and a
condition is one function of the module, refused past 4,096 terms (engines compile a function
in time that grows faster than its length). `rbac build --target wasm` and `rbac eval --engine
wasm` report it; the native engine and bundles take such a policy. A long chain of `||` over
values is one `in` over a set literal; an `||` of unrelated parts can be split over several rules
(each allow rule allows on its own):

    role r { allow read on doc when resource.kind == \"a\" || resource.kind == \"b\" || ...; }  // 5,000 terms
    role r { allow read on doc when resource.kind in [\"a\", \"b\", ...]; }                      // fixed";
"E0902", "not a policy module",
"A host was given bytes that are not a module `rbac build --target wasm` emitted: they do not end
with the `rbac.sha256` digest section, have no `rbac.meta` section, lack one of the exports the
ABI names, or are not WebAssembly (docs/wasm-abi.md). Build the module again.";
"E0903", "policy module of another ABI version",
"The module's `rbac_abi_version` is not the version this host speaks (1). Rebuild the module
with the `rbac` whose host you run.";
"E0904", "policy module digest mismatch",
"The module's bytes do not match the SHA-256 in its `rbac.sha256` section: a byte changed after
`rbac` wrote it (one flipped bit of a rule's effect turns a deny rule into an allow rule, so the
module is refused). Build it again from the sources, or fetch it again.";
"E0905", "internal error of the WebAssembly emitter",
"The module emitted for a policy did not assemble or validate. This is a bug of `rbac`, not of
the policy: please report it with the policy. The native engine and bundles are not affected.";
"W0001", "role never assigned nor extended",
"A role no assignment gives and no role extends has no effect.

    role auditor { allow read on *; }   // warning, unless assigned or extended";
"W0002", "group never used",
"A group not used in an assignment, a condition or a test has no effect.

    group contractors;   // warning";
"W0003", "allow rule that can never take effect",
"Every (action, type) pair the allow rule gives is denied without condition by the same role
or one of its ancestors, and deny always wins.

    role r { deny delete on doc; allow delete on doc; }   // warning on the allow";
"W0004", "identity never referenced",
"The identity reads a groups claim, but no group maps a value of it, so its tokens can give no
groups. (An identity without `groups from claim` maps users only and is not warned about.)

    identity okta { user from claim \"email\"; groups from claim \"groups\"; }   // warning without `group g from okta \"...\"`";
"W0005", "identity checks no audience",
"The identity has an `issuer` but no `audience`: tokens of that issuer are accepted whatever
their `aud`, including tokens the issuer minted for other applications. Name the client id the
tokens are for.

    identity okta { issuer \"https://acme.okta.com\"; user from claim \"email\"; }   // warning
    identity okta { issuer \"https://acme.okta.com\"; audience \"zenml\"; user from claim \"email\"; }";
"W0006", "audience without issuer",
"The identity has an `audience` but no `issuer`. Tokens select their identity by issuer, so no
token can be checked against this audience (identity principals given as verified claims are
not checked at all).

    identity okta { audience \"zenml\"; user from claim \"email\"; }   // warning";
"W0007", "redundant `extends`",
"A role names a parent twice, or a parent that another of its parents already inherits: the
role holds the same permissions without it.

    role developer extends viewer { allow update on pipeline; }
    role admin extends developer, viewer { allow * on *; }   // warning: through `developer`";
"W0008", "comparison with a string no principal id can be",
"`principal.id` is compared with a string that does not start with `user:` or `service:`. Every
principal id does, so `==` never holds (the rule never applies) and `!=` always holds; in
`principal.id in [...]`, such an element never matches.

    role owner { allow update on doc when principal.id == \"ann@acme.com\"; }        // warning
    role owner { allow update on doc when principal.id == \"user:ann@acme.com\"; }   // fixed";
}

/// The entry for a code (case-insensitive).
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// The text `rbac explain CODE` prints.
pub fn explain(code: &str) -> Option<String> {
    lookup(code).map(|c| format!("{}: {}\n\n{}", c.code, c.title, c.explanation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_used_in_the_sources_is_explained_once() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CODES {
            assert!(seen.insert(c.code), "{} listed twice", c.code);
        }
        // Every source file of the crate, read at test time (the tests run from the crate root).
        let mut files = vec![std::path::PathBuf::from("src")];
        let mut src = String::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).expect("src").map(|e| e.expect("entry").path()));
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("diag/codes.rs") {
                src.push_str(&std::fs::read_to_string(&path).expect("read"));
            }
        }
        assert!(src.len() > 100_000, "the crate's sources were not found");
        for (i, _) in src.match_indices("\"E0").chain(src.match_indices("\"W0")) {
            let code = src.get(i + 1..i + 6).unwrap_or("");
            assert!(lookup(code).is_some(), "{code} has no explanation");
        }
    }
}
