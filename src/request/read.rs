//! A request read straight from JSON text into a [`Request`], without a [`Value`] tree in
//! between: the common shape only (a principal with an `id`, `groups` and `attrs`; a
//! resource as a path or `{"path", "attrs"}`; `context`), each key once, none unknown, every
//! object a JSON object. Anything else is `None`, and [`Request::from_json`] reads the text
//! again through a [`Value`], which reads the other shapes and names any problem: so this
//! reader accepts a request only where that path would accept the same one.

use super::{DirectPrincipal, Principal, Request, ResourceRef};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The request in `text`, when it has the common shape.
pub(super) fn request(text: &str) -> Option<Request> {
    serde_json::from_str::<Read<Request>>(text).ok().map(|r| r.0)
}

/// A part of a request read by this module's rules (a JSON object only, not a list of
/// its fields as `serde`'s derived readers also take).
struct Read<T>(T);

/// The keys of the common shape; anything else is `Other`, which no object accepts.
enum Key {
    Principal,
    Action,
    Resource,
    Context,
    Id,
    Groups,
    Attrs,
    Path,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct Keys;
        impl Visitor<'_> for Keys {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "principal" => Key::Principal,
                    "action" => Key::Action,
                    "resource" => Key::Resource,
                    "context" => Key::Context,
                    "id" => Key::Id,
                    "groups" => Key::Groups,
                    "attrs" => Key::Attrs,
                    "path" => Key::Path,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(Keys)
    }
}

/// Reads the value of a key into `slot`; a repeated key is an error here (and reading through
/// a [`Strict`] value names it: E0701).
fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(slot: &mut Option<T>, map: &mut A) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::custom("a repeated key"));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

fn unknown<E: de::Error>() -> E {
    de::Error::custom("a key outside the common shape")
}

fn missing<E: de::Error>() -> E {
    de::Error::custom("a missing key")
}

/// A JSON value read refusing any object that gives a key twice: a JSON reader keeps the last
/// value, while a gateway or a person may have read the first, so such a request is malformed
/// (E0701) rather than decided for whichever principal or attribute came last.
pub(crate) struct Strict(pub Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("the key `{key}` is given twice in one object")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// An object of attributes (or `null`), read as [`Strict`].
struct Attrs(Option<Map<String, Value>>);

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Attrs, D::Error> {
        match d.deserialize_any(StrictVisitor)? {
            Value::Object(m) => Ok(Attrs(Some(m))),
            Value::Null => Ok(Attrs(None)),
            _ => Err(de::Error::custom("attributes that are no object")),
        }
    }
}

/// A JSON object read by `visit_map`, the only way each part here is read.
macro_rules! object_visitor {
    ($visitor:ident, $out:ty, $what:literal, |$map:ident| $body:block) => {
        struct $visitor;
        impl<'de> Visitor<'de> for $visitor {
            type Value = Read<$out>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($what)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<Read<$out>, A::Error> $body
        }
    };
}

object_visitor!(RequestVisitor, Request, "a request object", |map| {
    let (mut principal, mut action, mut resource, mut context) = (None, None, None, None);
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Principal => once::<_, Read<DirectPrincipal>>(&mut principal, &mut map)?,
            Key::Action => once::<_, String>(&mut action, &mut map)?,
            Key::Resource => once::<_, Read<ResourceRef>>(&mut resource, &mut map)?,
            Key::Context => once::<_, Attrs>(&mut context, &mut map)?,
            _ => return Err(unknown()),
        }
    }
    Ok(Read(Request {
        principal: Principal::Direct(principal.ok_or_else(missing)?.0),
        action: action.ok_or_else(missing)?,
        resource: resource.ok_or_else(missing)?.0,
        context: context.and_then(|a| a.0).unwrap_or_default(),
    }))
});

object_visitor!(PrincipalVisitor, DirectPrincipal, "a principal object", |map| {
    let (mut id, mut groups, mut attrs) = (None, None, None);
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Id => once::<_, String>(&mut id, &mut map)?,
            Key::Groups => once::<_, Option<Vec<String>>>(&mut groups, &mut map)?,
            Key::Attrs => once::<_, Attrs>(&mut attrs, &mut map)?,
            _ => return Err(unknown()),
        }
    }
    Ok(Read(DirectPrincipal {
        id: id.ok_or_else(missing)?,
        groups: groups.flatten().unwrap_or_default(),
        attrs: attrs.and_then(|a| a.0).unwrap_or_default(),
    }))
});

object_visitor!(ResourceVisitor, ResourceRef, "a resource path or object", |map| {
    let (mut path, mut attrs) = (None, None);
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Path => once::<_, String>(&mut path, &mut map)?,
            Key::Attrs => once::<_, Attrs>(&mut attrs, &mut map)?,
            _ => return Err(unknown()),
        }
    }
    Ok(Read(ResourceRef { path: path.ok_or_else(missing)?, attrs: attrs.and_then(|a| a.0).unwrap_or_default() }))
});

impl<'de> Deserialize<'de> for Read<Request> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor)
    }
}

impl<'de> Deserialize<'de> for Read<DirectPrincipal> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PrincipalVisitor)
    }
}

/// A resource is also written as its path alone.
impl<'de> Deserialize<'de> for Read<ResourceRef> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PathOrObject;
        impl<'de> Visitor<'de> for PathOrObject {
            type Value = Read<ResourceRef>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a resource path or object")
            }
            fn visit_str<E: de::Error>(self, path: &str) -> Result<Self::Value, E> {
                Ok(Read(ResourceRef { path: path.to_string(), attrs: Map::new() }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ResourceVisitor.visit_map(map)
            }
        }
        d.deserialize_any(PathOrObject)
    }
}

#[cfg(test)]
mod tests {
    use super::super::RequestError;
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    /// What `Request::from_json` answered before this reader: through a [`Value`] (read
    /// refusing repeated keys).
    fn through_value(text: &str) -> Result<Request, RequestError> {
        Request::from_value(&Request::json_value(text)?)
    }

    #[test]
    fn a_key_given_twice_anywhere_makes_the_request_malformed() {
        for (text, key) in [
            (r#"{"principal":{"id":"user:a"},"action":"read","resource":"w:1","action":"delete"}"#, "action"),
            (r#"{"principal":{"id":"user:a","id":"user:b"},"action":"read","resource":"w:1"}"#, "id"),
            (r#"{"principal":{"id":"user:a","attrs":{"n":1,"n":2}},"action":"read","resource":"w:1"}"#, "n"),
            (
                r#"{"principal":{"id":"user:a"},"action":"read","resource":{"path":"w:1","attrs":{"o":{"x":1,"x":2}}}}"#,
                "x",
            ),
            (r#"{"principal":{"id":"user:a"},"action":"read","resource":"w:1","context":{"ip":"a","ip":"b"}}"#, "ip"),
            (
                r#"{"principal":{"identity":"okta","claims":{"sub":"a","sub":"b"}},"action":"read","resource":"w:1"}"#,
                "sub",
            ),
        ] {
            assert!(request(text).is_none(), "{text}: read directly");
            let e = Request::from_json(text).expect_err(text);
            assert_eq!(e.code, "E0701", "{text}");
            assert!(e.message.contains(&format!("`{key}` is given twice")), "{text}: {}", e.message);
        }
        // Keys alike in different objects are no repeat.
        let text = r#"{"principal":{"id":"user:a","attrs":{"id":1}},"action":"read","resource":{"path":"w:1","attrs":{"id":2}}}"#;
        assert!(request(text).is_some());
    }

    #[test]
    fn the_common_shapes_are_read_directly_and_as_through_a_value() {
        for text in [
            r#"{"principal":{"id":"user:a"},"action":"read","resource":"workspace:w"}"#,
            r#"{"principal":{"id":"user:a","groups":["g","h"],"attrs":{"level":3}},"action":"read","resource":{"path":"workspace:w/project:p","attrs":{"owner":"user:a"}},"context":{"ip":"10.0.0.1"}}"#,
            r#"{"context":null,"resource":{"attrs":null,"path":"workspace:w"},"action":"read","principal":{"attrs":null,"groups":null,"id":"user:\u0061"}}"#,
            " {\"principal\": {\"id\": \"user:a\"},\n \"action\": \"read\", \"resource\": \"workspace:w\"} \n",
        ] {
            let direct = request(text);
            assert!(direct.is_some(), "{text}: not read directly");
            assert_eq!(direct.map(Ok), Some(through_value(text)), "{text}");
        }
    }

    #[test]
    fn other_shapes_are_left_to_the_reader_through_a_value() {
        for text in [
            // A list of fields, which `serde`'s derived readers would take for an object.
            r#"{"principal":["user:a"],"action":"read","resource":"workspace:w"}"#,
            r#"["user:a","read","workspace:w"]"#,
            r#"{"principal":{"id":"user:a"},"action":"read","resource":["workspace:w"]}"#,
            // Other principals, a repeated key (malformed, E0701), an unknown key.
            r#"{"principal":{"token":"x.y.z"},"action":"read","resource":"workspace:w"}"#,
            r#"{"principal":{"identity":"okta","claims":{}},"action":"read","resource":"workspace:w"}"#,
            r#"{"principal":{"id":"user:a"},"action":"read","action":"write","resource":"workspace:w"}"#,
            r#"{"principal":{"id":"user:a","role":"admin"},"action":"read","resource":"workspace:w"}"#,
            r#"{"principal":{"id":"user:a"},"action":"read"}"#,
            r#"{"principal":{"id":"user:a"},"action":"read","resource":"workspace:w""#,
        ] {
            assert!(request(text).is_none(), "{text}: read directly");
        }
        let repeated = r#"{"principal":{"id":"user:a"},"action":"read","action":"write","resource":"workspace:w"}"#;
        assert_eq!(Request::from_json(repeated).map_err(|e| e.code), Err("E0701".to_string()));
        let listed = r#"{"principal":["user:a"],"action":"read","resource":"workspace:w"}"#;
        assert_eq!(Request::from_json(listed).map_err(|e| e.code), Err("E0702".to_string()));
    }

    /// JSON text for a value: one of `good` mostly, else one of `bad`.
    fn pick(good: &[&'static str], bad: &[&'static str]) -> BoxedStrategy<String> {
        let (good, bad) = (good.to_vec(), bad.to_vec());
        prop_oneof![9 => prop::sample::select(good), 1 => prop::sample::select(bad)].prop_map(str::to_string).boxed()
    }

    /// An object of the given fields, each present or not, plus now and then a key of
    /// another shape or a repeated one, in any order; or now and then no object at all.
    fn object_text(
        fields: Vec<(&'static str, BoxedStrategy<String>)>,
        not_object: &[&'static str],
    ) -> BoxedStrategy<String> {
        let present = fields
            .into_iter()
            .map(|(k, v)| (any::<u8>(), v).prop_map(move |(roll, v)| (roll < 240).then_some((k, v))))
            .collect::<Vec<_>>();
        let odd = prop::sample::select(vec!["id", "token", "identity", "claims", "path", "extra", "action"]);
        let extra = prop::option::weighted(0.1, (odd, pick(&["\"user:b\"", "{}", "null"], &["1"])));
        let object = (present, extra)
            .prop_map(|(fields, extra)| fields.into_iter().flatten().chain(extra).collect::<Vec<_>>())
            .prop_shuffle()
            .prop_map(|pairs| {
                let fields: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", fields.join(","))
            });
        prop_oneof![19 => object, 1 => prop::sample::select(not_object.to_vec()).prop_map(str::to_string)].boxed()
    }

    fn request_text() -> impl Strategy<Value = String> {
        let attrs =
            || pick(&["{}", "null", r#"{"owner":"user:a"}"#, r#"{"level":[1,2],"ok":true}"#], &["[]", "\"x\"", "3"]);
        let principal = object_text(
            vec![
                ("id", pick(&["\"user:a\"", "\"service:ci\"", "\"user:\\u0061\""], &["null", "3", "[\"user:a\"]"])),
                ("groups", pick(&["[\"g\"]", "[]", "null", "[\"g\",\"h\"]"], &["[\"g\",1]", "\"g\"", "{}"])),
                ("attrs", attrs()),
            ],
            &["[\"user:a\"]", "\"user:a\"", "null"],
        );
        let resource_object = object_text(
            vec![("path", pick(&["\"workspace:w/project:p\""], &["null", "[]"])), ("attrs", attrs())],
            &["[\"workspace:w\"]", "3", "null"],
        );
        let resource = prop_oneof![resource_object, pick(&["\"workspace:w\""], &["true"])];
        object_text(
            vec![
                ("principal", principal),
                ("action", pick(&["\"read\""], &["null", "[\"read\"]"])),
                ("resource", resource.boxed()),
                ("context", attrs()),
            ],
            &["[]", "\"read\"", "null"],
        )
    }

    /// How often [`request_text`] makes a request read directly, so that the property
    /// below compares both readers often (about a quarter of the texts).
    #[test]
    fn generated_texts_are_often_read_directly() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = request_text();
        let direct =
            (0..1000).filter(|_| strategy.new_tree(&mut runner).is_ok_and(|t| request(&t.current()).is_some())).count();
        assert!(direct > 150 && direct < 900, "{direct} of 1000");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Whatever the text, reading it directly (where it can be) answers as reading it
        /// through a value does.
        #[test]
        fn reading_directly_answers_as_reading_through_a_value(text in request_text()) {
            if let Some(direct) = request(&text) {
                prop_assert_eq!(Ok(direct), through_value(&text), "{}", text);
            }
            prop_assert_eq!(Request::from_json(&text), through_value(&text), "{}", text);
        }
    }
}
