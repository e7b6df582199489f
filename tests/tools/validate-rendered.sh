#!/bin/sh
# Validate a rendered fleet tree with the real tools.
# usage: validate.sh RENDERED_DIR     (e.g. rendered/ or /tmp/fleet-work/out)
# Needs (Debian 12): bird2 caddy prometheus prometheus-alertmanager wireguard-tools yamllint
#                    shellcheck docker-compose capnproto libxml2-utils openssl python3
set -u
R=$(cd "$1" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
pass=0
# wg_setconf FILE: `wg setconf` on a wireguard-go interface in its own network namespace.
wg_setconf() {
  ns="nxinfra-wg-$$"
  ip netns add "$ns" || return 1
  ip netns exec "$ns" sh -c "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go wgcheck >/dev/null 2>&1 && wg setconf wgcheck '$1'"
  rc=$?
  ip netns exec "$ns" ip link del wgcheck 2>/dev/null
  ip netns del "$ns"
  return $rc
}
# Endpoint host names would be resolved by `wg setconf` (no DNS here): use a TEST-NET address.
wg_check() {
  wg-quick strip "$1" | sed -E 's/^(Endpoint *= *)[A-Za-z][A-Za-z0-9.-]*:/\1192.0.2.1:/' > "$2" &&
    wg_setconf "$2"
}

check() { # check NAME CMD...
  name=$1; shift
  if out=$("$@" 2>&1); then
    pass=$((pass + 1)); echo "ok    $name"
  else
    fail=$((fail + 1)); echo "FAIL  $name"; echo "$out" | sed 's/^/      /' | tail -15
  fi
}

for h in "$R"/*/; do
  h=$(basename "$h")
  # --- compose
  check "$h compose.yml (docker-compose config)" docker-compose -f "$R/$h/compose.yml" config -q
  # --- BIRD: Debian's 2.0.12 has no BMP: drop that block; includes resolve next to bird.conf
  if [ -f "$R/$h/bird/bird.conf" ]; then
    mkdir -p "$W/bird/$h"
    for f in "$R/$h"/bird/*.conf; do
      sed '/^protocol bmp/,/^}/d' "$f" > "$W/bird/$h/$(basename "$f")"
    done
    check "$h bird/bird.conf (bird -p)" bird -p -c "$W/bird/$h/bird.conf"
  fi
  # --- WireGuard: `wg-quick strip`, then the real `wg setconf` on a userspace interface
  # (wireguard-go) inside a throwaway network namespace: the kernel here has no module.
  for f in "$R/$h"/wireguard/*.conf; do
    [ -f "$f" ] || continue
    iface=$(basename "$f" .conf)
    mkdir -p "$W/wg/$h"
    check "$h wireguard/$iface.conf (wg-quick strip + wg setconf)" \
      wg_check "$f" "$W/wg/$h/$iface.stripped"
  done
  # --- YAML (every .yml/.yaml, compose included)
  for f in $(find "$R/$h" -type f \( -name '*.yml' -o -name '*.yaml' \) | sort); do
    check "$h ${f#"$R/$h/"} (yamllint)" yamllint -d relaxed "$f"
  done
  # --- shell
  for f in $(find "$R/$h" -type f -name '*.sh' | sort); do
    check "$h ${f#"$R/$h/"} (shellcheck)" shellcheck -s sh "$f"
    check "$h ${f#"$R/$h/"} (sh -n)" sh -n "$f"
  done
  # --- XML, JSON, Cap'n Proto, TOML
  for f in $(find "$R/$h" -type f -name '*.xml' | sort); do
    check "$h ${f#"$R/$h/"} (xmllint)" xmllint --noout "$f"
  done
  for f in $(find "$R/$h" -type f -name '*.json' | sort); do
    check "$h ${f#"$R/$h/"} (json)" python3 -m json.tool "$f"
  done
  for f in $(find "$R/$h" -type f -name '*.capnp' | sort); do
    check "$h ${f#"$R/$h/"} (capnp compile)" capnp compile -o- "$f"
  done
  for f in $(find "$R/$h" -type f -name '*.conf' -path '*routinator*' | sort); do
    check "$h ${f#"$R/$h/"} (toml)" python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' "$f"
  done
done

# --- core-only tools
C="$R/coreams01"
if [ -d "$C" ]; then
  check "coreams01 prometheus/config/prometheus.yml (promtool check config)" \
    sh -c "cd '$C/prometheus/config' && mkdir -p '$W/prom/etc/prometheus' && cp alerts.yml prometheus.yml web.yml '$W/prom/etc/prometheus/' &&
           sed 's#/etc/prometheus/#$W/prom/etc/prometheus/#' prometheus.yml > '$W/prom/etc/prometheus/prometheus.yml' &&
           promtool check config '$W/prom/etc/prometheus/prometheus.yml'"
  check "coreams01 prometheus/config/alerts.yml (promtool check rules)" promtool check rules "$C/prometheus/config/alerts.yml"
  check "coreams01 prometheus/config/web.yml (promtool check web-config)" promtool check web-config "$C/prometheus/config/web.yml"
  check "coreams01 alertmanager/config/alertmanager.yml (amtool check-config)" amtool check-config "$C/alertmanager/config/alertmanager.yml"
  # IPv6 proxy: Debian's caddy has no Cloudflare DNS module: drop the acme_dns line
  sed '/acme_dns/d' "$C/proxy/config/Caddyfile" > "$W/proxy.Caddyfile"
  check "coreams01 proxy/config/Caddyfile (caddy validate, acme_dns removed)" \
    caddy validate --adapter caddyfile --config "$W/proxy.Caddyfile"
  # IPv4 proxy: it loads the IPv6 proxy's certificates: make self-signed ones
  for vhost in $(sed -n 's#^\([a-z0-9.-]*\) {$#\1#p' "$C/proxy-ipv4/config/Caddyfile"); do
    mkdir -p "$W/certs/$vhost"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
      -subj "/CN=$vhost" -keyout "$W/certs/$vhost/$vhost.key" -out "$W/certs/$vhost/$vhost.crt" 2>/dev/null
  done
  check "coreams01 proxy-ipv4/config/Caddyfile (caddy validate, TLS_CERTS_DIR=test certs)" \
    env TLS_CERTS_DIR="$W/certs" caddy validate --adapter caddyfile --config "$C/proxy-ipv4/config/Caddyfile"
  check "coreams01 geofeed/config/Caddyfile (caddy validate)" \
    caddy validate --adapter caddyfile --config "$C/geofeed/config/Caddyfile"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
