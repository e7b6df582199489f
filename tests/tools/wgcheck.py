#!/usr/bin/env python3
"""Check a `wg-quick strip`ped WireGuard config the way `wg setconf` parses it.

`wg setconf` needs a real interface (CAP_NET_ADMIN + the wireguard module); where that is
available the test can run `ip link add wgtest type wireguard && wg setconf wgtest FILE`
instead. Here: keys must be 32-byte base64, sections/keys known, AllowedIPs parse.
"""
import base64, ipaddress, sys

KEYS = {
    "Interface": {"PrivateKey", "ListenPort", "FwMark"},
    "Peer": {"PublicKey", "PresharedKey", "AllowedIPs", "Endpoint", "PersistentKeepalive"},
}
section = None
peers = 0
for n, raw in enumerate(open(sys.argv[1]), 1):
    line = raw.split("#", 1)[0].strip()
    if not line:
        continue
    if line.startswith("["):
        section = line.strip("[]")
        assert section in KEYS, f"{n}: unknown section {section}"
        peers += section == "Peer"
        continue
    key, _, value = (p.strip() for p in line.partition("="))
    assert section and key in KEYS[section], f"{n}: unknown key {key} in {section}"
    if key in ("PrivateKey", "PublicKey", "PresharedKey"):
        assert len(base64.b64decode(value, validate=True)) == 32, f"{n}: bad key"
    elif key == "AllowedIPs":
        for net in value.split(","):
            ipaddress.ip_network(net.strip(), strict=False)
    elif key in ("ListenPort", "PersistentKeepalive"):
        assert 0 <= int(value) < 65536, f"{n}: bad {key}"
    elif key == "Endpoint":
        host, _, port = value.rpartition(":")
        assert host and 0 < int(port) < 65536, f"{n}: bad endpoint"
assert peers >= 1, "no [Peer]"
print("ok")
