//! IP addresses and subnets as written in compose files.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// A subnet in CIDR notation, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Subnet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask32(self.prefix) & u32::from(ip) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask128(self.prefix) & u128::from(ip) == u128::from(net)
            }
            _ => false,
        }
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// The IPv4 broadcast address (`None` for IPv6, and for /31 and /32 which have none).
    pub fn broadcast(&self) -> Option<IpAddr> {
        match self.addr {
            IpAddr::V4(net) if self.prefix < 31 => Some(IpAddr::V4(Ipv4Addr::from(
                u32::from(net) | !mask32(self.prefix),
            ))),
            _ => None,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl FromStr for Subnet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("bad subnet {text:?}: {why}");
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| bad("expected ADDRESS/PREFIX, e.g. 172.18.0.0/16"))?;
        let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| bad(&format!("the prefix length must be 0 to {max}")))?;
        let network = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(prefix))),
        };
        if network != addr {
            return Err(bad(&format!(
                "host bits are set (the subnet is {network}/{prefix})"
            )));
        }
        Ok(Subnet { addr, prefix })
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Deserializes a `FromStr` value from a string, with a message naming what was expected.
macro_rules! parsed_from_str {
    ($name:ident, $target:ty, $what:literal) => {
        #[doc = concat!("A string parsed as ", $what, ".")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub $target);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse::<$target>()
                            .map($name)
                            .map_err(|_| E::custom(format!("{v:?} is not {}", $what)))
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

parsed_from_str!(Ip, IpAddr, "an IP address");
parsed_from_str!(Ip4, Ipv4Addr, "an IPv4 address");
parsed_from_str!(Ip6, Ipv6Addr, "an IPv6 address");

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Subnet;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a subnet such as 172.18.0.0/16")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Subnet, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn subnets_parse_and_contain() {
        let v4: Subnet = "172.19.0.0/16".parse().unwrap();
        assert!(v4.contains(ip("172.19.255.254")));
        assert!(!v4.contains(ip("172.20.0.1")));
        assert!(!v4.contains(ip("::1")));
        assert_eq!(v4.broadcast(), Some(ip("172.19.255.255")));
        let v6: Subnet = "2a06:de00:50:cafe:10::/80".parse().unwrap();
        assert!(v6.contains(ip("2a06:de00:50:cafe:10::a")));
        assert!(!v6.contains(ip("2a06:de00:50:cafe:100::a")));
        assert_eq!(v6.broadcast(), None);
        assert_eq!(v6.to_string(), "2a06:de00:50:cafe:10::/80");
        let all: Subnet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!(all.overlaps(&v4));
        let other: Subnet = "172.18.0.0/16".parse().unwrap();
        assert!(!other.overlaps(&v4));
    }

    #[test]
    fn bad_subnets_say_why() {
        for (text, why) in [
            ("172.19.0.0", "expected ADDRESS/PREFIX"),
            (
                "172.19.0.1/16",
                "host bits are set (the subnet is 172.19.0.0/16)",
            ),
            ("172.19.0.0/33", "0 to 32"),
            ("fd00::/129", "0 to 128"),
            ("x/8", "not an IP address"),
        ] {
            let err = text.parse::<Subnet>().unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
