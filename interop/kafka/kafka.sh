#!/usr/bin/env bash
# A real Apache Kafka (KRaft) cluster on 127.0.0.1, from Maven Central, for
# prodsim's ground-truth tests and for anyone who wants one:
#
#   kafka.sh start DIR PORT [BROKERS]  start BROKERS (default 1) nodes, each its
#                                      own JVM (broker + controller), return once
#                                      the cluster lists them all; prints the
#                                      bootstrap address (the last line of output)
#   kafka.sh kill DIR NODE             kill -9 node NODE (1..BROKERS)
#   kafka.sh restart DIR NODE          start NODE again (stopping it first if it
#                                      runs) and wait until the cluster lists it
#   kafka.sh stop DIR                  stop every node (SIGTERM, then -9 after 30 s)
#   kafka.sh bootstrap DIR             print the bootstrap address
#
# Node N listens for clients on PORT+N-1 and for its controller quorum on
# PORT+BROKERS+N-1. DIR holds the classpath, one folder per node (its
# server.properties, data and server.log) and the pids. The Kafka version is
# pinned in pom.xml beside this script. Needs java (17+), mvn and python3.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
HEAP="${KAFKA_HEAP:-512m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"

die() {
  echo "kafka.sh: $*" >&2
  exit 2
}

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The broker's classpath, resolved once per DIR (Maven downloads the jars the
# first time, then works from ~/.m2).
classpath() {
  local dir="$1"
  if [ ! -s "$dir/cp.txt" ] || [ "$HERE/pom.xml" -nt "$dir/cp.txt" ]; then
    mvn -q -B -f "$HERE/pom.xml" dependency:build-classpath \
      -Dmdep.outputFile="$dir/cp.txt" >"$dir/mvn.log" 2>&1 ||
      die "resolving Kafka from Maven Central failed; see $dir/mvn.log"
  fi
  cat "$dir/cp.txt"
}

# node_props DIR NODE: writes DIR/node-NODE/server.properties.
node_props() {
  local dir="$1" node="$2"
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  local nd="$dir/node-$node"
  local port=$((PORT + node - 1))
  local cport=$((PORT + BROKERS + node - 1))
  local voters="" bootstrap_servers="" i
  for i in $(seq 1 "$BROKERS"); do
    voters="${voters:+$voters,}$i@127.0.0.1:$((PORT + BROKERS + i - 1))"
  done
  local rf=$((BROKERS < 3 ? BROKERS : 3))
  mkdir -p "$nd/data"
  cat >"$nd/server.properties" <<EOF
# Written by interop/kafka/kafka.sh: node $node of $BROKERS.
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$nd/data
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=$rf
group.initial.rebalance.delay.ms=0
EOF
}

# launch DIR NODE: starts the node's JVM in the background, records its pid.
launch() {
  local dir="$1" node="$2"
  local nd="$dir/node-$node"
  local cp
  cp="$(classpath "$dir")"
  # setsid: the broker outlives the shell that started it, in its own group.
  setsid java -Xmx"$HEAP" -Xms128m -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
    -Dkafka.logs.file="$nd/server.log" \
    -cp "$cp" kafka.Kafka "$nd/server.properties" \
    >"$nd/stdout.log" 2>&1 </dev/null &
  echo $! >"$nd/pid"
}

running() {
  local pidfile="$1/node-$2/pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# wait_ready DIR NODE: until the node answers Metadata listing every broker.
wait_ready() {
  local dir="$1" node="$2"
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  local addr="127.0.0.1:$((PORT + node - 1))"
  local deadline=$((SECONDS + START_TIMEOUT))
  until python3 "$HERE/ready.py" "$addr" "$BROKERS"; do
    if ! running "$dir" "$node"; then
      tail -20 "$dir/node-$node/stdout.log" "$dir/node-$node/server.log" >&2 2>/dev/null || true
      die "node $node exited before it was ready (logs in $dir/node-$node)"
    fi
    [ "$SECONDS" -lt "$deadline" ] ||
      die "node $node not ready after ${START_TIMEOUT}s (logs in $dir/node-$node)"
    sleep 0.2
  done
}

bootstrap() {
  # shellcheck disable=SC1091
  . "$1/cluster.env"
  local out="" i
  for i in $(seq 1 "$BROKERS"); do
    out="${out:+$out,}127.0.0.1:$((PORT + i - 1))"
  done
  echo "$out"
}

cmd_start() {
  [ $# -ge 2 ] || usage
  local dir="$1" port="$2" brokers="${3:-1}"
  [[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
  [[ "$brokers" =~ ^[1-9][0-9]*$ ]] || die "BROKERS must be a positive number, got '$brokers'"
  command -v java >/dev/null || die "java is missing (install a JDK 17+)"
  command -v mvn >/dev/null || die "mvn is missing (install Maven)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local n
  for n in $(seq 1 "$brokers"); do
    if running "$dir" "$n"; then die "node $n of $dir is already running: kafka.sh stop $dir"; fi
  done
  local started=$SECONDS
  rm -rf "$dir"/node-*
  printf 'PORT=%s\nBROKERS=%s\n' "$port" "$brokers" >"$dir/cluster.env"
  local cp id
  cp="$(classpath "$dir")"
  id="$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
  [ -n "$id" ] || die "StorageTool random-uuid printed nothing"
  echo "$id" >"$dir/cluster.id"
  for n in $(seq 1 "$brokers"); do
    node_props "$dir" "$n"
    java -cp "$cp" kafka.tools.StorageTool format -t "$id" \
      -c "$dir/node-$n/server.properties" >"$dir/node-$n/format.log" 2>&1 ||
      die "formatting node $n failed; see $dir/node-$n/format.log"
  done
  for n in $(seq 1 "$brokers"); do launch "$dir" "$n"; done
  for n in $(seq 1 "$brokers"); do wait_ready "$dir" "$n"; done
  echo "kafka $(kafka_version) up: $brokers node(s) in $((SECONDS - started)) s, data in $dir" >&2
  bootstrap "$dir"
}

kafka_version() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml"
}

check_node() {
  local dir="$1" node="$2"
  [ -f "$dir/cluster.env" ] || die "$dir holds no cluster (kafka.sh start first)"
  [ -d "$dir/node-$node" ] || die "$dir has no node $node"
}

cmd_kill() {
  [ $# -eq 2 ] || usage
  check_node "$1" "$2"
  if running "$1" "$2"; then
    kill -9 "$(cat "$1/node-$2/pid")"
    while running "$1" "$2"; do sleep 0.05; done
  fi
  echo "node $2 killed" >&2
}

stop_node() {
  local dir="$1" node="$2"
  running "$dir" "$node" || return 0
  local pid
  pid="$(cat "$dir/node-$node/pid")"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while running "$dir" "$node" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if running "$dir" "$node"; then kill -9 "$pid" 2>/dev/null || true; fi
  while running "$dir" "$node"; do sleep 0.05; done
}

cmd_restart() {
  [ $# -eq 2 ] || usage
  check_node "$1" "$2"
  local dir
  dir="$(cd "$1" && pwd)"
  stop_node "$dir" "$2"
  launch "$dir" "$2"
  wait_ready "$dir" "$2"
  echo "node $2 restarted" >&2
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  [ -f "$1/cluster.env" ] || die "$1 holds no cluster"
  local n
  # shellcheck disable=SC1091
  . "$1/cluster.env"
  # The brokers first, in reverse, so the last controllers see them go.
  for n in $(seq "$BROKERS" -1 1); do stop_node "$1" "$n" & done
  wait
  echo "stopped" >&2
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  kill) shift; cmd_kill "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  bootstrap) shift; [ $# -eq 1 ] || usage; bootstrap "$1" ;;
  *) usage ;;
esac
