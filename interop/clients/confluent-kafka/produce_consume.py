"""A user's own produce-then-consume check with confluent-kafka (librdkafka).

Creates the topic (CreateTopics), produces PRODUCERS x RECORDS idempotent
records (one KafkaProducer each, unique values), then reads everything back
and checks that every acknowledged record is there exactly once, at the offset
its delivery report named, in send order per producer and partition.
Reading back: `--read assign` assigns every partition from its low watermark
(get_watermark_offsets), `--read group` subscribes with a consumer group.
Prints one `RESULT: OK ...` or `RESULT: FAIL ...` line; exit code 0 or 1.
"""

import argparse
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", default="cfk-check")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--producers", type=int, default=3)
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--read", choices=["assign", "group"], default="assign")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--spread-secs", type=float, default=0,
                    help="spread each producer's sends over this many seconds")
    a = ap.parse_args()

    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    fs = admin.create_topics([NewTopic(a.topic, a.partitions, 3)], request_timeout=15)
    for t, f in fs.items():
        try:
            f.result()
        except KafkaException as e:
            if e.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS
                raise

    acked = {}  # value -> (partition, offset)
    order = {}  # (producer, partition) -> [offsets in send order]
    errors = []
    for p in range(a.producers):
        prod = Producer({
            "bootstrap.servers": a.bootstrap,
            "client.id": f"cfk-producer-{p}",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": int(a.timeout * 1000),
        })

        def report(err, msg, p=p):
            if err is not None:
                errors.append(f"{msg.value()!r}: {err}")
            else:
                acked[msg.value()] = (msg.partition(), msg.offset())
                order.setdefault((p, msg.partition()), []).append(msg.offset())

        for i in range(a.records):
            value = f"p{p}-r{i}".encode()
            while True:
                try:
                    prod.produce(a.topic, value=value, key=str(i % 97).encode(), on_delivery=report)
                    break
                except BufferError:
                    prod.poll(0.05)
            prod.poll(0)
            if a.spread_secs and i % 100 == 99:
                time.sleep(a.spread_secs * 100 / a.records)
        left = prod.flush(a.timeout)
        if left:
            errors.append(f"producer {p}: {left} records still in flight after flush")
    sent = a.producers * a.records
    print(f"produced: {len(acked)} acknowledged, {len(errors)} errors of {sent}", flush=True)

    problems = list(errors[:5])
    for (p, part), offs in order.items():
        if offs != sorted(offs):
            problems.append(f"producer {p} partition {part}: acknowledged offsets out of send order")

    seen, late = read_back(a)
    problems += late
    dups = [v for v, at in seen.items() if len(at) > 1]
    missing = [v for v in acked if v not in seen]
    wrong = [v for v, at in acked.items() if v in seen and seen[v][0] != at]
    phantoms = [v for v in seen if v not in acked]
    print(f"read back: {sum(len(x) for x in seen.values())} records, {len(dups)} duplicated, "
          f"{len(missing)} missing, {len(wrong)} at another offset, {len(phantoms)} never acknowledged",
          flush=True)
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


def read_back(a):
    """value -> [(partition, offset), ...] of every record in the topic, and problems."""
    late = []
    conf = {
        "bootstrap.servers": a.bootstrap,
        "client.id": "cfk-consumer",
        "group.id": "cfk-check",
        "enable.auto.commit": a.read == "group",
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
    }
    c = Consumer(conf)
    md = c.list_topics(a.topic, timeout=15)
    parts = sorted(md.topics[a.topic].partitions)
    ends = {}
    for p in parts:
        low, high = c.get_watermark_offsets(TopicPartition(a.topic, p), timeout=15)
        ends[p] = (low, high)
    if a.read == "assign":
        c.assign([TopicPartition(a.topic, p, ends[p][0]) for p in parts])
    else:
        c.subscribe([a.topic])
    want = sum(high - low for low, high in ends.values())
    seen = {}
    got = 0
    position = {p: ends[p][0] for p in parts}
    deadline = time.time() + a.timeout
    while time.time() < deadline and any(position[p] < ends[p][1] for p in parts):
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            print(f"consumer error: {m.error()}", file=sys.stderr)
            continue
        seen.setdefault(m.value(), []).append((m.partition(), m.offset()))
        position[m.partition()] = m.offset() + 1
        got += 1
    if a.read == "group":
        c.commit(asynchronous=False)
        committed = c.committed([TopicPartition(a.topic, p) for p in parts], timeout=15)
        behind = [tp.partition for tp in committed if tp.offset != ends[tp.partition][1]]
        if behind:
            late.append(f"committed offsets behind the end on partitions {behind}")
    c.close()
    print(f"consumed {got} of {want} records between the watermarks", flush=True)
    return seen, late


if __name__ == "__main__":
    sys.exit(main())
