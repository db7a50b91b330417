"""A user's own produce-then-consume check with kafka-python (pure Python).

Creates the topic (KafkaAdminClient.create_topics), produces PRODUCERS x
RECORDS idempotent records (one KafkaProducer each, unique values), then reads
everything back and checks that every acknowledged record is there exactly
once, at the offset its future named, in send order per producer and partition.
`--read assign` assigns every partition from its beginning offset up to its end
offset; `--read group` subscribes with a consumer group (group coordinator:
FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetCommit/Fetch).
Prints one `RESULT: OK ...` or `RESULT: FAIL ...` line; exit code 0 or 1.
"""

import argparse
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", default="kpy-check")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--read", choices=["assign", "group"], default="assign")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--spread-secs", type=float, default=0,
                    help="spread each producer's sends over this many seconds")
    a = ap.parse_args()
    servers = a.bootstrap.split(",")

    admin = KafkaAdminClient(bootstrap_servers=servers, client_id="kpy-admin")
    try:
        admin.create_topics([NewTopic(a.topic, a.partitions, 3)])
    except TopicAlreadyExistsError:
        pass
    admin.close()

    acked = {}
    order = {}
    errors = []
    for p in range(a.producers):
        prod = KafkaProducer(
            bootstrap_servers=servers,
            client_id=f"kpy-producer-{p}",
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_in_flight_requests_per_connection=5,
            request_timeout_ms=5000,
            delivery_timeout_ms=int(a.timeout * 1000),
        )
        futures = []
        for i in range(a.records):
            value = f"p{p}-r{i}".encode()
            futures.append((value, prod.send(a.topic, value=value, key=str(i % 97).encode())))
            if a.spread_secs and i % 100 == 99:
                time.sleep(a.spread_secs * 100 / a.records)
        prod.flush(timeout=a.timeout)
        for value, f in futures:
            try:
                md = f.get(timeout=1)
                acked[value] = (md.partition, md.offset)
                order.setdefault((p, md.partition), []).append(md.offset)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                errors.append(f"{value!r}: {e!r}")
        prod.close(timeout=a.timeout)
    sent = a.producers * a.records
    print(f"produced: {len(acked)} acknowledged, {len(errors)} errors of {sent}", flush=True)

    problems = list(errors[:5])
    for (p, part), offs in order.items():
        if offs != sorted(offs):
            problems.append(f"producer {p} partition {part}: acknowledged offsets out of send order")
    seen, late = read_back(a, servers)
    problems += late
    dups = [v for v, at in seen.items() if len(at) > 1]
    missing = [v for v in acked if v not in seen]
    wrong = [v for v, at in acked.items() if v in seen and seen[v][0] != at]
    print(f"read back: {sum(len(x) for x in seen.values())} records, {len(dups)} duplicated, "
          f"{len(missing)} missing, {len(wrong)} at another offset", flush=True)
    if dups:
        problems.append(f"{len(dups)} values stored twice, e.g. {dups[0]!r} at {seen[dups[0]]}")
    if missing:
        problems.append(f"{len(missing)} acknowledged values not read back, e.g. {missing[0]!r}")
    if wrong:
        problems.append(f"{len(wrong)} values at another offset than acknowledged, e.g. {wrong[0]!r}")
    if len(acked) != sent:
        problems.append(f"{sent - len(acked)} of {sent} records not acknowledged")
    if problems:
        print("RESULT: FAIL " + "; ".join(problems))
        return 1
    print(f"RESULT: OK {len(acked)} records produced and read back once, in order ({a.read})")
    return 0


def read_back(a, servers):
    """value -> [(partition, offset), ...] of every record in the topic, and problems."""
    late = []
    c = KafkaConsumer(
        bootstrap_servers=servers,
        client_id="kpy-consumer",
        group_id="kpy-check" if a.read == "group" else None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
    )
    parts = sorted(c.partitions_for_topic(a.topic) or [])
    tps = [TopicPartition(a.topic, p) for p in parts]
    begin = c.beginning_offsets(tps)
    end = c.end_offsets(tps)
    if a.read == "assign":
        c.assign(tps)
        for tp in tps:
            c.seek(tp, begin[tp])
    else:
        c.subscribe([a.topic])
    seen = {}
    position = {tp: begin[tp] for tp in tps}
    deadline = time.time() + a.timeout
    while time.time() < deadline and any(position[tp] < end[tp] for tp in tps):
        for tp, msgs in c.poll(timeout_ms=500).items():
            for m in msgs:
                seen.setdefault(m.value, []).append((m.partition, m.offset))
                position[tp] = m.offset + 1
    if a.read == "group":
        c.commit()
        behind = [tp.partition for tp in tps if c.committed(tp) != end[tp]]
        if behind:
            late.append(f"committed offsets behind the end on partitions {behind}")
    c.close()
    want = sum(end[tp] - begin[tp] for tp in tps)
    print(f"consumed {sum(len(x) for x in seen.values())} of {want} records between the offsets", flush=True)
    return seen, late


if __name__ == "__main__":
    sys.exit(main())
