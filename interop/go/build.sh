#!/usr/bin/env bash
# Builds prodsim's Go peers in module mode (pinned by go.mod/go.sum and
# sarama-1.22.mod/sarama-1.22.sum beside this script) into OUT:
#
#   build.sh [--race] OUT
#
#   OUT/sarama-producer            Sarama github.com/IBM/sarama v1.61.1
#   OUT/sarama-producer-1.22       the same source on github.com/Shopify/sarama v1.22.1
#   OUT/sarama-mock-broker         MockBroker of v1.61.1
#   OUT/sarama-mock-broker-1.22    MockBroker of v1.22.1
#   OUT/franz-check                franz-go v1.22.3 produce-then-consume check
#   OUT/sarama-check               Sarama v1.61.1 produce-then-consume check
#   OUT/kfake-anchor               franz-go's kfake cluster on 127.0.0.1
#
# --race builds everything with Go's race detector (sarama-producer's
# shared-message runs want it). Needs Go 1.26+ and the Go module proxy, or a
# module cache that already holds the modules (GOFLAGS=-mod=mod is never
# needed: the sums are committed). Set GOCACHE/GOMODCACHE to keep the build
# away from $HOME.
set -euo pipefail

race=()
if [ "${1:-}" = "--race" ]; then
  race=(-race)
  shift
fi
[ $# -eq 1 ] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
out="$1"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$(dirname "$0")"

# -buildvcs=false: the binaries need no git stamp, and the build then works
# in a tree git does not trust or without git at all.
go build -buildvcs=false "${race[@]}" -o "$out/" \
  ./sarama-producer ./sarama-mock-broker ./franz-check ./sarama-check ./kfake-anchor
go build -buildvcs=false "${race[@]}" -modfile=sarama-1.22.mod \
  -o "$out/sarama-producer-1.22" ./sarama-producer
go build -buildvcs=false "${race[@]}" -modfile=sarama-1.22.mod \
  -o "$out/sarama-mock-broker-1.22" ./sarama-mock-broker
