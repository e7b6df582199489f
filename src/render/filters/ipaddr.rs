//! `ipaddr`, `ipv4`, `ipv6`: the ansible.utils queries templates use, on std::net only.

use super::*;

pub(super) struct IpNet {
    addr: IpAddr,
    prefix: u8,
    had_prefix: bool,
}

impl IpNet {
    fn parse(s: &str) -> Option<IpNet> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = Self::max_prefix(addr);
        let prefix_len = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|n| *n <= max)?
            }
            Some(p) => {
                // IPv4 dotted netmask (`10.0.0.1/255.255.255.0`)
                let mask = u32::from(p.parse::<Ipv4Addr>().ok().filter(|_| addr.is_ipv4())?);
                if mask.leading_ones() + mask.trailing_zeros() != 32 {
                    return None;
                }
                mask.leading_ones() as u8
            }
        };
        Some(IpNet {
            addr,
            prefix: prefix_len,
            had_prefix: prefix.is_some(),
        })
    }

    fn max_prefix(addr: IpAddr) -> u8 {
        if addr.is_ipv4() { 32 } else { 128 }
    }

    fn bits(&self) -> u32 {
        u32::from(Self::max_prefix(self.addr))
    }

    fn mask(&self) -> u128 {
        let width = self.bits();
        let all = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        if self.prefix == 0 {
            0
        } else {
            (all << (width - u32::from(self.prefix))) & all
        }
    }

    fn to_int(&self) -> u128 {
        match self.addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn addr_at(&self, n: u128) -> IpAddr {
        match self.addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
        }
    }

    fn network(&self) -> u128 {
        self.to_int() & self.mask()
    }

    fn broadcast(&self) -> u128 {
        let all = if self.bits() == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        self.network() | (!self.mask() & all)
    }

    fn version(&self) -> u8 {
        if self.addr.is_ipv4() { 4 } else { 6 }
    }

    fn normalized(&self) -> String {
        if self.had_prefix {
            format!("{}/{}", self.addr, self.prefix)
        } else {
            self.addr.to_string()
        }
    }
}

/// Applies one `ipaddr` query to one value; `false` when the value is not an IP (of `version`).
pub(super) fn ipaddr_one(
    filter: &str,
    value: &Value,
    query: &Value,
    version: Option<u8>,
) -> Result<Value, Error> {
    let Some(net) = value.as_str().and_then(IpNet::parse) else {
        return Ok(Value::from(false));
    };
    if version.is_some_and(|v| v != net.version()) {
        return Ok(Value::from(false));
    }
    if query.is_integer() {
        let n = i128::try_from(query.clone()).map_err(|_| err(filter, "invalid index"))?;
        if net.prefix == IpNet::max_prefix(net.addr) {
            return Ok(Value::from(net.addr.to_string()));
        }
        let addr = if n >= 0 {
            net.network()
                .checked_add(n.unsigned_abs())
                .filter(|a| *a <= net.broadcast())
        } else {
            // n = -1 is the last address
            net.broadcast()
                .checked_sub(n.unsigned_abs() - 1)
                .filter(|a| *a >= net.network())
        };
        return Ok(match addr {
            Some(a) => Value::from(format!("{}/{}", net.addr_at(a), net.prefix)),
            None => Value::from(false),
        });
    }
    let query = if query.is_none() || query.is_undefined() {
        ""
    } else {
        query.as_str().ok_or_else(|| {
            err(
                filter,
                format!("query must be a string or an integer, not {}", query.kind()),
            )
        })?
    };
    Ok(match query {
        "" | "bool" => Value::from(net.normalized()),
        "address" => Value::from(net.addr.to_string()),
        "prefix" => Value::from(net.prefix),
        "network" => Value::from(net.addr_at(net.network()).to_string()),
        "subnet" | "network/prefix" | "net" => {
            Value::from(format!("{}/{}", net.addr_at(net.network()), net.prefix))
        }
        "netmask" => Value::from(net.addr_at(net.mask()).to_string()),
        "broadcast" if net.version() == 4 => Value::from(net.addr_at(net.broadcast()).to_string()),
        "host" => Value::from(format!("{}/{}", net.addr, net.prefix)),
        "version" => Value::from(net.version()),
        "ipv4" | "4" => match net.version() {
            4 => Value::from(net.normalized()),
            _ => Value::from(false),
        },
        "ipv6" | "6" => match net.version() {
            6 => Value::from(net.normalized()),
            _ => Value::from(false),
        },
        other => {
            return Err(err(
                filter,
                format!(
                    "unknown query '{other}' (supported: address, prefix, network, subnet, netmask, \
                     broadcast, host, version, ipv4, ipv6, or an integer index)"
                ),
            ));
        }
    })
}

pub(super) fn ipaddr_impl(
    filter: &str,
    state: &State,
    value: &Value,
    query: Option<Value>,
    version: Option<u8>,
) -> Result<Value, Error> {
    defined(state, value)?;
    let query = query.unwrap_or(Value::from(()));
    if is_seq(value) {
        let mut out = Vec::new();
        for item in seq_items(value)? {
            let result = ipaddr_one(filter, &item, &query, version)?;
            if result.is_true() {
                out.push(result);
            }
        }
        return Ok(Value::from(out));
    }
    ipaddr_one(filter, value, &query, version)
}

/// `ipaddr(query='')` on `"addr"` or `"addr/prefix"` strings (or lists of them); `false` for
/// anything that is not an IP address. Queries: `''` (validate), `address`, `prefix`,
/// `network`, `subnet`, `netmask`, `broadcast`, `host`, `version`, `ipv4`, `ipv6`, or an integer
/// `n` (the n-th address of the network, `addr/prefix`; negative counts from the end).
pub(super) fn ipaddr(state: &State, value: &Value, query: Option<Value>) -> Result<Value, Error> {
    ipaddr_impl("ipaddr", state, value, query, None)
}

/// `ipv4(query='')`: `ipaddr` restricted to IPv4 values.
pub(super) fn ipv4(state: &State, value: &Value, query: Option<Value>) -> Result<Value, Error> {
    ipaddr_impl("ipv4", state, value, query, Some(4))
}

/// `ipv6(query='')`: `ipaddr` restricted to IPv6 values.
pub(super) fn ipv6(state: &State, value: &Value, query: Option<Value>) -> Result<Value, Error> {
    ipaddr_impl("ipv6", state, value, query, Some(6))
}
