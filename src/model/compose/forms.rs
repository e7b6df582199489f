//! The alternative forms Compose allows for one value: a string or a list (`command`, `dns`),
//! a mapping or a list of `NAME=value` (`environment`, `labels`, `sysctls`), a string or an
//! integer (map values). Error messages here never quote a value: environment values may be
//! secrets, so the message names the key (the variable) instead.

use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

use indexmap::IndexMap;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::net::Ip;
use super::words;

/// A string, or an integer taken as its decimal text. Floats, booleans and nulls are refused
/// (YAML reads `1.10` as 1.1 and `yes` differently depending on the version): quote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

fn quote_it<E: de::Error>(what: &str) -> E {
    E::custom(format!("{what} where a string is expected: quote it"))
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
                Err(quote_it("a floating-point number"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
                Err(quote_it("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Err(E::custom(
                    "no value: nxinfra does not take values from its own environment (write \
                     \"\" for an empty value)",
                ))
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                self.visit_unit()
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Scalar, A::Error> {
                Err(de::Error::custom("a list where a string is expected"))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Scalar, A::Error> {
                Err(de::Error::custom("a mapping where a string is expected"))
            }
        }
        d.deserialize_any(V)
    }
}

/// What a [`KeyValues`] holds, for messages and key checks.
pub trait Kind {
    /// "variable", "label", "sysctl"
    const NOUN: &'static str;
}

pub struct Env;
impl Kind for Env {
    const NOUN: &'static str = "variable";
}

pub struct Label;
impl Kind for Label {
    const NOUN: &'static str = "label";
}

pub struct Sysctl;
impl Kind for Sysctl {
    const NOUN: &'static str = "sysctl";
}

/// `NAME: value` pairs, written as a mapping or as a list of `NAME=value`.
pub struct KeyValues<K>(pub IndexMap<String, String>, PhantomData<K>);

impl<K> fmt::Debug for KeyValues<K> {
    /// Names only: values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

fn check_name<K: Kind>(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("a {} with an empty name", K::NOUN));
    }
    if name.contains('=') || name.contains('\0') || name.chars().any(char::is_whitespace) {
        return Err(format!(
            "{} name {name:?} contains \"=\", a space or a NUL",
            K::NOUN
        ));
    }
    Ok(())
}

impl<'de, K: Kind> Deserialize<'de> for KeyValues<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<K>(PhantomData<K>);
        impl<K: Kind> V<K> {
            fn wrong<E: de::Error>(what: &str) -> E {
                E::custom(format!(
                    "{what}: expected a mapping of {noun}s or a list of \"NAME=value\"",
                    noun = K::NOUN
                ))
            }
        }
        impl<'de, K: Kind> Visitor<'de> for V<K> {
            type Value = KeyValues<K>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a mapping of {}s or a list of \"NAME=value\"", K::NOUN)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Err(Self::wrong("a string"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Err(Self::wrong("a number"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Err(Self::wrong("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Err(Self::wrong("a number"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Err(Self::wrong("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(KeyValues(IndexMap::new(), PhantomData))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = IndexMap::new();
                while let Some(name) = map.next_key_seed(Name::<K>(PhantomData))? {
                    let value: Scalar = map.next_value()?;
                    out.insert(name, value.0);
                }
                Ok(KeyValues(out, PhantomData))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = IndexMap::new();
                while let Some((name, value)) = seq.next_element_seed(Item::<K> {
                    seen: &out,
                    kind: PhantomData,
                })? {
                    out.insert(name, value);
                }
                Ok(KeyValues(out, PhantomData))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A mapping key, checked as a name.
struct Name<K>(PhantomData<K>);

impl<'de, K: Kind> DeserializeSeed<'de> for Name<K> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<K: Kind> Visitor<'_> for Name<K> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {} name", K::NOUN)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        check_name::<K>(v).map_err(E::custom)?;
        Ok(v.to_string())
    }
}

/// A list item `NAME=value`, checked against the names already read.
struct Item<'a, K> {
    seen: &'a IndexMap<String, String>,
    kind: PhantomData<K>,
}

impl<'de, K: Kind> DeserializeSeed<'de> for Item<'_, K> {
    type Value = (String, String);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<K: Kind> Visitor<'_> for Item<'_, K> {
    type Value = (String, String);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("\"NAME=value\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let Some((name, value)) = v.split_once('=') else {
            // Without "=", the item is only a name: safe to show.
            return Err(E::custom(format!(
                "{noun} {v} has no value: nxinfra does not take values from its own \
                 environment (write \"{v}=\" for an empty value)",
                noun = K::NOUN
            )));
        };
        check_name::<K>(name).map_err(E::custom)?;
        if self.seen.contains_key(name) {
            return Err(E::custom(format!("{} {name} is set twice", K::NOUN)));
        }
        Ok((name.to_string(), value.to_string()))
    }
}

/// `command` / `entrypoint`: a list of words, or a string split like a shell would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command(pub Vec<String>);

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Command;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of words or a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Command, E> {
                words::split(v).map(Command).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
                let mut out = Vec::new();
                while let Some(word) = seq.next_element::<Scalar>()? {
                    out.push(word.0);
                }
                Ok(Command(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `dns`: one address or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses(pub Vec<IpAddr>);

impl<'de> Deserialize<'de> for Addresses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Addresses;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an IP address or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Addresses, E> {
                v.parse()
                    .map(|ip| Addresses(vec![ip]))
                    .map_err(|_| E::custom(format!("{v:?} is not an IP address")))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Addresses, A::Error> {
                let mut out = Vec::new();
                while let Some(ip) = seq.next_element::<Ip>()? {
                    out.push(ip.0);
                }
                Ok(Addresses(out))
            }
        }
        d.deserialize_any(V)
    }
}
