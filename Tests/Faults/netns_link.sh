#!/bin/sh
# A real network link for fault tests: a network namespace joined to the root namespace by a
# veth pair, which can be taken down (packets dropped both ways: a black hole, TCP connections
# stay open) and throttled with tbf. No netem here (this kernel has no sch_netem), so no loss,
# delay or reordering on the link itself; fault_proxy.py makes delay and stalls above TCP.
#
#   netns_link.sh create N      namespace eddy-faults-N, veth efN-r (10.231.N.1, root side)
#                               and efN-s (10.231.N.2, in the namespace), both up; N in 1..250
#   netns_link.sh down N        take the root side down (the link is cut)
#   netns_link.sh up N          bring it up again
#   netns_link.sh throttle N R  tbf at rate R (e.g. 256kbit) on both sides
#   netns_link.sh unthrottle N  remove it
#   netns_link.sh delete N      remove the namespace and the pair (idempotent)
#   netns_link.sh check         exit 0 if namespaces and veth pairs can be made here
# Needs root and iproute2 (`ip`, `tc`).
set -eu
cmd=$1; n=${2:-0}
ns="eddy-faults-$n"; root="ef$n-r"; inner="ef$n-s"
case $cmd in
create)
  ip netns add "$ns"
  ip link add "$root" type veth peer name "$inner"
  ip link set "$inner" netns "$ns"
  ip addr add "10.231.$n.1/30" dev "$root"
  ip link set "$root" up
  ip netns exec "$ns" ip addr add "10.231.$n.2/30" dev "$inner"
  ip netns exec "$ns" ip link set "$inner" up
  ip netns exec "$ns" ip link set lo up ;;
down) ip link set "$root" down ;;
up) ip link set "$root" up ;;
throttle)
  tc qdisc replace dev "$root" root tbf rate "$3" burst 16kb latency 2s
  ip netns exec "$ns" tc qdisc replace dev "$inner" root tbf rate "$3" burst 16kb latency 2s ;;
unthrottle)
  tc qdisc del dev "$root" root 2>/dev/null || true
  ip netns exec "$ns" tc qdisc del dev "$inner" root 2>/dev/null || true ;;
delete)
  ip link del "$root" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true ;;
check)
  [ "$(id -u)" = 0 ] && command -v ip >/dev/null && command -v tc >/dev/null || exit 1
  probe=$$; probe=$((probe % 200 + 50))
  if "$0" create "$probe" >/dev/null 2>&1; then "$0" delete "$probe"; exit 0; fi
  "$0" delete "$probe"; exit 1 ;;
*) echo "usage: $0 create|down|up|throttle|unthrottle|delete N | check" >&2; exit 64 ;;
esac
