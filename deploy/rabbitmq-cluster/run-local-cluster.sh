#!/usr/bin/env bash
# Starts a local RabbitMQ cluster from Debian's rabbitmq-server (three nodes by default) and a Redis on free loopback
# ports, runs worker processes on it with quorum queues, drives them with the worker's `traffic` command while the node
# that leads the `payments` queue is stopped and started again, and exits with the traffic command's code (0: every
# message ran exactly once, none lost). Everything lives in a temporary directory and is stopped and removed at the end
# (logs are kept on failure); the system's RabbitMQ, epmd and Redis, if any, are never touched. Not part of CI (README,
# "RabbitMQ cluster").
#
#   deploy/rabbitmq-cluster/run-local-cluster.sh                  # 3 nodes, 2 workers, 5000 payments at 600 msg/s
#   NODES=1 STOP_NODE=no QUEUE_TYPE=Classic COUNT=20000 RATE=0 deploy/rabbitmq-cluster/run-local-cluster.sh
#
# Settings (environment): NODES (3), WORKERS (2), COUNT (5000 unique payments, `traffic --count`), REQUESTS (quote
# requests, COUNT/10), RATE (600 messages a second, `traffic --rate`; 0 is as fast as it goes), QUEUE_TYPE (Quorum or Classic), DELIVERY_LIMIT (20, quorum
# only), STOP_NODE (yes: 3 s into the traffic stop the node leading `payments`, start it again 5 s later), KEEP (no;
# yes leaves everything running until Enter is pressed), WORKER_DLL (the built worker; default: builds src/Worker).
# Needs: rabbitmq-server and redis-server (apt-get install rabbitmq-server redis-server), python3, the .NET SDK.
set -euo pipefail

NODES=${NODES:-3}
WORKERS=${WORKERS:-2}
COUNT=${COUNT:-5000}
RATE=${RATE:-600}
REQUESTS=${REQUESTS:-$((COUNT / 10))}
QUEUE_TYPE=${QUEUE_TYPE:-Quorum}
DELIVERY_LIMIT=${DELIVERY_LIMIT:-20}
STOP_NODE=${STOP_NODE:-yes}
KEEP=${KEEP:-no}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rabbit_bin=/usr/lib/rabbitmq/bin # the real scripts: /usr/sbin/rabbitmqctl switches to the rabbitmq user when run as root

say() { printf '%s [cluster] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() { say "FAILED: $*" >&2; exit 1; }

for tool in "$rabbit_bin/rabbitmq-server" "$rabbit_bin/rabbitmqctl" /usr/bin/epmd; do
  [ -x "$tool" ] || fail "$tool is missing: apt-get install rabbitmq-server"
done
command -v redis-server >/dev/null || fail "redis-server is missing: apt-get install redis-server"
command -v python3 >/dev/null || fail "python3 is missing (it picks free ports)"
[ "$NODES" -ge 1 ] || fail "NODES must be at least 1"
if [ "$STOP_NODE" = yes ] && [ "$NODES" -lt 3 ]; then
  say "STOP_NODE=yes needs 3 nodes or more (a quorum queue needs a majority of its members); not stopping a node"
  STOP_NODE=no
fi

work=$(mktemp -d /tmp/dedup-rabbit-cluster.XXXXXX)
pids=()
cleanup() {
  local code=$?
  say "stopping workers, nodes, epmd and redis"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  # The nodes' Erlang VMs are children of the rabbitmq-server scripts started below; kill what is left of them by the
  # process group each script leads (setsid).
  for pgid in "${groups[@]:-}"; do [ -n "$pgid" ] && kill -9 -- "-$pgid" 2>/dev/null || true; done
  if [ "$code" -eq 0 ]; then
    rm -rf "$work"
  else
    rm -rf "$work"/node-*/mnesia "$work"/*.aof "$work"/appendonlydir
    say "logs kept in $work"
  fi
  exit "$code"
}
groups=()
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free loopback ports: 2 per node (AMQP, distribution), epmd, redis.
read -r -a ports <<<"$(python3 - "$((NODES * 2 + 2))" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
)"
epmd_port=${ports[$((NODES * 2))]}
redis_port=${ports[$((NODES * 2 + 1))]}
suffix=$(python3 -c 'import secrets; print(secrets.token_hex(4))')

# One HOME for every node and for rabbitmqctl: the same Erlang cookie.
mkdir -p "$work/home"
python3 -c 'import secrets, string; print("".join(secrets.choice(string.ascii_uppercase) for _ in range(32)), end="")' >"$work/home/.erlang.cookie"
chmod 400 "$work/home/.erlang.cookie"

common_env=(
  HOME="$work/home" LC_ALL=C.UTF-8
  ERL_EPMD_PORT="$epmd_port" ERL_EPMD_ADDRESS=127.0.0.1
  RABBITMQ_CTL_DIST_PORT_MIN=0 RABBITMQ_CTL_DIST_PORT_MAX=0
)
node_name() { echo "dedup-$1-$suffix@localhost"; }
amqp_port() { echo "${ports[$((($1 - 1) * 2))]}"; }
ctl() { local node=$1; shift; env "${common_env[@]}" "$rabbit_bin/rabbitmqctl" -n "$(node_name "$node")" "$@"; }

say "work directory $work; epmd on $epmd_port"
env "${common_env[@]}" /usr/bin/epmd -port "$epmd_port" -address 127.0.0.1 >"$work/epmd.log" 2>&1 &
pids+=($!)
disown
sleep 0.5

start_node() {
  local i=$1 dir="$work/node-$1"
  mkdir -p "$dir/mnesia" "$dir/log"
  echo '[].' >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$(amqp_port "$i")
loopback_users.guest = true
disk_free_limit.absolute = 1MB
log.console = false
log.file.level = info
EOF
  # setsid: the script and the Erlang VM it starts get a process group of their own, so cleanup can kill both.
  env -u ERL_FLAGS -u RABBITMQ_USE_LONGNAME "${common_env[@]}" \
    RABBITMQ_NODENAME="$(node_name "$i")" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$(amqp_port "$i")" \
    RABBITMQ_DIST_PORT="${ports[$((($i - 1) * 2 + 1))]}" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
    setsid "$rabbit_bin/rabbitmq-server" >"$dir/server.out" 2>&1 &
  pids+=($!)
  groups+=($!)
  disown
}

started=$(date +%s)
for i in $(seq 1 "$NODES"); do start_node "$i"; done
for i in $(seq 1 "$NODES"); do
  until ctl "$i" -q await_startup --timeout 120 >/dev/null 2>&1; do
    kill -0 "${groups[$((i - 1))]}" 2>/dev/null || fail "node $i did not start: $(tail -n 20 "$work/node-$i/server.out")"
    sleep 1
  done
  say "node $i $(node_name "$i") up, AMQP on 127.0.0.1:$(amqp_port "$i")"
done
for i in $(seq 2 "$NODES"); do
  ctl "$i" -q stop_app >/dev/null
  ctl "$i" -q join_cluster "$(node_name 1)" >/dev/null
  ctl "$i" -q start_app >/dev/null
done
say "cluster of $NODES formed in $(($(date +%s) - started)) s:"
ctl 1 -q cluster_status | sed -n '/Running Nodes/,/Versions/p' | sed '/^$/d;/Versions/d'

redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly yes --appendfsync everysec \
  --maxmemory-policy noeviction --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
disown
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.2; done
say "redis on 127.0.0.1:$redis_port"

if [ -z "${WORKER_DLL:-}" ]; then
  say "building the worker (dotnet build src/Worker -c Release)"
  dotnet build "$repo/src/Worker/Worker.csproj" -c Release --nologo -v quiet >"$work/build.log" 2>&1 || fail "build: $(tail -n 20 "$work/build.log")"
  WORKER_DLL="$repo/src/Worker/bin/Release/net10.0/Dedup.Worker.dll"
fi

hosts=$(for i in $(seq 1 "$NODES"); do printf '127.0.0.1:%s,' "$(amqp_port "$i")"; done)
hosts=${hosts%,}
worker_env=(
  RabbitMq__Host="$hosts" Redis__Configuration="127.0.0.1:$redis_port"
  Worker__QueueType="$QUEUE_TYPE" Logging__Console__FormatterName=simple Logging__Console__FormatterOptions__SingleLine=true
)
[ "$QUEUE_TYPE" = Quorum ] && worker_env+=(Worker__DeliveryLimit="$DELIVERY_LIMIT")

for w in $(seq 1 "$WORKERS"); do
  env "${worker_env[@]}" dotnet "$WORKER_DLL" >"$work/worker-$w.log" 2>&1 &
  pids+=($!)
  disown
done
for w in $(seq 1 "$WORKERS"); do
  until grep -q '\[1008\] Worker started' "$work/worker-$w.log"; do
    grep -q 'Start-up check failed\|configuration is invalid' "$work/worker-$w.log" && fail "worker $w: $(cat "$work/worker-$w.log")"
    sleep 0.5
  done
done
say "$WORKERS workers started on RabbitMq__Host=$hosts ($QUEUE_TYPE queues)"
ctl 1 -q list_queues name type leader members --no-table-headers 2>/dev/null | grep -E '^(payments|quotes|external-payments)\b' \
  | while read -r line; do say "  queue $line"; done || true

# The node to stop: the one most workers are connected to (their connections drop, their unacknowledged messages go
# back to the queues, and they reconnect to the next node), the leader of `payments` among equals (its quorum queue
# then elects a new leader). The traffic command connects to another node: the stop tests the workers, not the tool.
worker_nodes=$(ctl 1 -q list_connections pid client_properties --no-table-headers 2>/dev/null \
  | grep '"connection_name","dedup-worker"' | grep -o '^<dedup-[0-9]*' | cut -d- -f2 | sort | uniq -c | sort -rn || true)
echo "$worker_nodes" | while read -r n i; do [ -n "$i" ] && say "  $n worker connection(s) on node $i"; done
leader=$(ctl 1 -q list_queues name leader --no-table-headers 2>/dev/null | awk '$1 == "payments" { print $2 }' | grep -o '^dedup-[0-9]*' | cut -d- -f2 || true)
victim=""
traffic_node=1
if [ "$STOP_NODE" = yes ]; then
  most=$(echo "$worker_nodes" | awk 'NR == 1 { print $1 }')
  victim=$(echo "$worker_nodes" | awk -v most="${most:-0}" -v leader="$leader" '$1 == most && $2 == leader { print $2 }')
  [ -n "$victim" ] || victim=$(echo "$worker_nodes" | awk 'NR == 1 { print $2 }')
  [ -n "$victim" ] || victim=${leader:-$NODES}
  traffic_node=$((victim % NODES + 1))
fi

say "traffic: $COUNT payments, $REQUESTS quote requests, duplicates of both, at ${RATE} msg/s (0: unlimited) through node $traffic_node"
: >"$work/traffic.log"
env "${worker_env[@]}" RabbitMq__Host="127.0.0.1:$(amqp_port "$traffic_node")" dotnet "$WORKER_DLL" traffic --count "$COUNT" --requests "$REQUESTS" --rate "$RATE" \
  --timeout 600 >"$work/traffic.log" 2>&1 &
traffic=$!
pids+=("$traffic")

if [ -n "$victim" ]; then
  sleep 3
  say "stopping node $victim ($(node_name "$victim")$([ "$victim" = "$leader" ] && echo ", leader of payments")) while traffic flows"
  ctl "$victim" -q stop_app >/dev/null
  sleep 2
  ctl "$traffic_node" -q list_queues name leader --no-table-headers 2>/dev/null | grep -E '^payments\b' | while read -r _ l; do say "  payments is now led by $l"; done || true
  sleep 3
  ctl "$victim" -q start_app >/dev/null
  say "node $victim started again"
fi

while kill -0 "$traffic" 2>/dev/null; do
  tail -n 1 "$work/traffic.log" | sed "s/^/$(date -u +%H:%M:%S) [traffic] /" || true
  sleep 3
done
set +e
wait "$traffic"
code=$?
set -e
grep -E '^(  |traffic:)' "$work/traffic.log" | sed 's/^/  /' || true

if [ "$code" -ne 0 ]; then
  # The sample ledger (README, "The ledger"): which ids ran more than once, and the entries of each execution.
  for kind in payment quote; do
    redis-cli -p "$redis_port" --scan --pattern "ledger:*:$kind" >"$work/ledger-$kind.keys" 2>/dev/null || true
    [ -s "$work/ledger-$kind.keys" ] || continue
    paste "$work/ledger-$kind.keys" <(xargs -a "$work/ledger-$kind.keys" redis-cli -p "$redis_port" --raw MGET) \
      | awk '$2 + 0 > 1 { print $1, $2 }' | while read -r key n; do
        say "  $kind ${key#ledger:} ran $n times"
        redis-cli -p "$redis_port" --raw LRANGE "${key%:"$kind"}:entries" 0 -1 | sed 's/^/      /'
      done || true
  done
fi
say "queues after the traffic (name type leader members):"
ctl "$traffic_node" -q list_queues name type leader members --no-table-headers 2>/dev/null \
  | while read -r line; do say "  $line"; done || true
for w in $(seq 1 "$WORKERS"); do
  say "worker $w: $(grep -c 'warn:\|fail:\|crit:' "$work/worker-$w.log" || true) warnings or errors in its log"
  grep 'warn:\|fail:\|crit:' "$work/worker-$w.log" | grep -v '\[1002\]' | sed -E 's/^[0-9T:.-]+ //' | cut -c1-160 | sort | uniq -c | sort -rn | head -n 4 | sed 's/^/    /' || true
done

if [ "$KEEP" = yes ]; then
  say "everything is still running (AMQP $hosts, redis 127.0.0.1:$redis_port, logs in $work); press Enter to stop"
  read -r _
fi
if [ "$code" -eq 0 ]; then say "PASSED: every message ran exactly once, none lost"; else say "traffic exited with $code"; fi
exit "$code"
