#!/usr/bin/env bash
# Installs the real NTP implementations the interop tests run against (Debian packages).
# chrony, sntp, ntpdig (ntpsec-ntpdate), rdate, tshark, faketime, iptables, chromium and tzdata (the leap-second
# list, right/UTC) are installed normally;
# ntpsec and openntpd conflict with chrony, so they are unpacked into $NTPKIT_PEERS_DIR instead.
# Services never auto-start (policy-rc.d), and no test may change the host clock.
set -euo pipefail
PEERS_DIR=${NTPKIT_PEERS_DIR:-/opt/ntpkit-peers}
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" != 0 ]; then
  echo "install-peers: not root; skipping Debian packages (interop tests will be skipped)" >&2
  exit 0
fi
if [ ! -x /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
need=()
for p in chrony ntpsec-ntpdate sntp rdate tshark faketime iptables iproute2 chromium python3-prometheus-client gpsd tzdata; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Make sure no packaged time daemon runs (it could touch the host clock).
pkill -x chronyd 2>/dev/null || true
if [ ! -x "$PEERS_DIR/ntpsec/usr/sbin/ntpd" ] || [ ! -x "$PEERS_DIR/openntpd/usr/sbin/ntpd" ]; then
  tmp=$(mktemp -d)
  chmod 777 "$tmp"
  (cd "$tmp" && apt-get download ntpsec openntpd >/dev/null 2>&1) || { apt-get update -qq; (cd "$tmp" && apt-get download ntpsec openntpd >/dev/null); }
  mkdir -p "$PEERS_DIR/ntpsec" "$PEERS_DIR/openntpd"
  dpkg -x "$tmp"/ntpsec_*.deb "$PEERS_DIR/ntpsec"
  dpkg -x "$tmp"/openntpd_*.deb "$PEERS_DIR/openntpd"
  rm -rf "$tmp"
fi
echo "install-peers: ok ($PEERS_DIR)"
