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

/// Reads the value of a key into `slot`; a repeated key is an error here (reading through a
/// [`Value`], the last one counts).
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
            Key::Context => once::<_, Option<Map<String, Value>>>(&mut context, &mut map)?,
            _ => return Err(unknown()),
        }
    }
    Ok(Read(Request {
        principal: Principal::Direct(principal.ok_or_else(missing)?.0),
        action: action.ok_or_else(missing)?,
        resource: resource.ok_or_else(missing)?.0,
        context: context.flatten().unwrap_or_default(),
    }))
});

object_visitor!(PrincipalVisitor, DirectPrincipal, "a principal object", |map| {
    let (mut id, mut groups, mut attrs) = (None, None, None);
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Id => once::<_, String>(&mut id, &mut map)?,
            Key::Groups => once::<_, Option<Vec<String>>>(&mut groups, &mut map)?,
            Key::Attrs => once::<_, Option<Map<String, Value>>>(&mut attrs, &mut map)?,
            _ => return Err(unknown()),
        }
    }
    Ok(Read(DirectPrincipal {
        id: id.ok_or_else(missing)?,
        groups: groups.flatten().unwrap_or_default(),
        attrs: attrs.flatten().unwrap_or_default(),
    }))
});

object_visitor!(ResourceVisitor, ResourceRef, "a resource path or object", |map| {
    let (mut path, mut attrs) = (None, None);
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Path => once::<_, String>(&mut path, &mut map)?,
            Key::Attrs => once::<_, Option<Map<String, Value>>>(&mut attrs, &mut map)?,
            _ => return Err(unknown()),
        }
    }
    Ok(Read(ResourceRef { path: path.ok_or_else(missing)?, attrs: attrs.flatten().unwrap_or_default() }))
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

    /// What `Request::from_json` answered before this reader: through a [`Value`].
    fn through_value(text: &str) -> Result<Request, RequestError> {
        let value: Value = serde_json::from_str(text)?;
        Request::from_value(&value)
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
            // Other principals, a repeated key (the last counts through a value), an unknown key.
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
        assert_eq!(Request::from_json(repeated).map(|r| r.action), Ok("write".to_string()));
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
