#!/usr/bin/env bash
# Installs the real NTP implementations the interop tests run against (Debian packages).
# chrony, sntp, ntpdig (ntpsec-ntpdate), rdate, tshark, faketime, iptables, chromium and tzdata (the leap-second
# list, right/UTC) are installed normally (and man-db, systemd for the packaging test: man -l, systemd-analyze verify);
# ntpsec and openntpd conflict with chrony, so they are unpacked into $NTPKIT_PEERS_DIR instead.
# Services never auto-start (policy-rc.d), and no test may change the host clock.
set -euo pipefail
PEERS_DIR=${NTPKIT_PEERS_DIR:-/opt/ntpkit-peers}
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" != 0 ]; then
  if [ "${NTPKIT_REQUIRE_PEERS:-}" = 1 ]; then
    echo "install-peers: not root, cannot install the peers NTPKIT_REQUIRE_PEERS=1 requires" >&2
    exit 1
  fi
  echo "install-peers: not root; skipping Debian packages (interop tests will be skipped)" >&2
  exit 0
fi
if [ ! -x /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
need=()
for p in chrony ntpsec-ntpdate sntp rdate tshark faketime iptables iproute2 chromium python3-prometheus-client gpsd man-db systemd tzdata; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
# The packaged chronyd writes this pid file. policy-rc.d keeps the package from starting it; should it start
# anyway, stop that one chronyd (by the pid its new pid file names), never any other chronyd on the machine.
CHRONY_PIDFILE=/run/chrony/chronyd.pid
pid_before=$(cat "$CHRONY_PIDFILE" 2>/dev/null || true)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
pid_after=$(cat "$CHRONY_PIDFILE" 2>/dev/null || true)
if [ -n "$pid_after" ] && [ "$pid_after" != "$pid_before" ] && [ "$(cat "/proc/$pid_after/comm" 2>/dev/null)" = chronyd ]; then
  echo "install-peers: stopping the chronyd the package started (pid $pid_after)" >&2
  kill "$pid_after"
fi
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
