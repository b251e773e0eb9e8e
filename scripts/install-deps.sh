#!/usr/bin/env bash
# Installs (apt-get) the Debian 12 packages mqttlb's build, tests and demo use,
# only those missing; with --bench also what bench/run.sh compares against
# and plots with (HAProxy, NGINX with its stream module, gnuplot, bc).
# Idempotent; needs root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang llvm lld libclang-rt-14-dev
  clang-format valgrind
  libbpf-dev libxdp-dev bpftool xdp-tools linux-libc-dev gcc-multilib
  liburing-dev libpcap-dev libcyaml-dev libyaml-dev libmicrohttpd-dev
  liburcu-dev libmnl-dev libxxhash-dev libcmocka-dev libssl-dev openssl
  iproute2 iputils-ping ethtool nftables tcpdump
  mosquitto mosquitto-clients python3-paho-mqtt python3-scapy jq nodejs
)
if [ "${1:-}" = --bench ]; then
  packages+=(haproxy nginx-light libnginx-mod-stream gnuplot-nox bc)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm: Debian's package, unless a Node.js build that bundles it (NodeSource's
# nodejs conflicts with Debian's npm) already provides the command
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}) and not root; run as root or through sudo" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
