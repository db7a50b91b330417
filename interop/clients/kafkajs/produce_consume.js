// A user's own produce-then-consume check with kafkajs (pure JavaScript).
//
// Creates the topic (admin.createTopics), produces PRODUCERS x RECORDS
// idempotent records (one producer each, unique values, sends of 100), then
// reads everything back with a group consumer (kafkajs has no other kind:
// FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetCommit/Fetch) up to
// the end offsets from admin.fetchTopicOffsets (ListOffsets), and checks that
// every acknowledged record is there exactly once, in send order per producer
// and partition. Prints one `RESULT: OK ...` or `RESULT: FAIL ...` line.
"use strict";

const { Kafka, logLevel } = require("kafkajs");

function args() {
  const a = { topic: "kjs-check", partitions: 6, producers: 2, records: 3000, timeout: 60, "spread-secs": 0 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, "");
    a[k] = ["topic", "bootstrap"].includes(k) ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (!a.bootstrap) throw new Error("--bootstrap HOST:PORT[,...] is required");
  return a;
}

async function main() {
  const a = args();
  const kafka = new Kafka({
    clientId: "kjs",
    brokers: a.bootstrap.split(","),
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 100 },
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: a.topic, numPartitions: a.partitions, replicationFactor: 3 }] });

  const acked = new Map(); // value -> [partition, offset]
  const problems = [];
  let errors = 0;
  for (let p = 0; p < a.producers; p++) {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const lastOffset = new Map(); // partition -> last acknowledged base offset
    for (let i = 0; i < a.records; i += 100) {
      const messages = [];
      for (let j = i; j < Math.min(i + 100, a.records); j++) {
        messages.push({ key: String(j % 97), value: `p${p}-r${j}` });
      }
      try {
        const meta = await producer.send({ topic: a.topic, acks: -1, messages });
        // kafkajs answers per partition with the batch's base offset: give
        // each message its offset from the messages sent to that partition.
        const byPartition = new Map();
        for (const m of meta) byPartition.set(m.partition, Number(m.baseOffset));
        for (const [part, base] of byPartition) {
          if (lastOffset.has(part) && base <= lastOffset.get(part)) {
            problems.push(`producer ${p} partition ${part}: base offset ${base} after ${lastOffset.get(part)}`);
          }
          lastOffset.set(part, base);
        }
        for (const m of messages) acked.set(m.value, true);
        if (a["spread-secs"]) await new Promise((r) => setTimeout(r, (a["spread-secs"] * 100000) / a.records));
      } catch (e) {
        errors += messages.length;
        if (problems.length < 5) problems.push(`send failed: ${e.message}`);
      }
    }
    await producer.disconnect();
  }
  const sent = a.producers * a.records;
  console.log(`produced: ${acked.size} acknowledged, ${errors} errors of ${sent}`);

  const ends = await admin.fetchTopicOffsets(a.topic);
  const end = new Map(ends.map((o) => [o.partition, Number(o.high)]));
  const want = [...end.values()].reduce((x, y) => x + y, 0);
  const seen = new Map(); // value -> [[partition, offset], ...]
  const perPartition = new Map(); // partition -> offsets read, in order
  const consumer = kafka.consumer({ groupId: "kjs-check", sessionTimeout: 10000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topic: a.topic, fromBeginning: true });
  let got = 0;
  const done = new Promise((resolve) => {
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        const v = message.value.toString();
        const at = seen.get(v) || [];
        at.push([partition, Number(message.offset)]);
        seen.set(v, at);
        const offs = perPartition.get(partition) || [];
        offs.push(Number(message.offset));
        perPartition.set(partition, offs);
        got += 1;
        if (got >= want) resolve();
      },
    });
  });
  const timer = new Promise((resolve) => setTimeout(resolve, a.timeout * 1000));
  await Promise.race([done, timer]);
  await consumer.disconnect();
  const committed = await admin.fetchOffsets({ groupId: "kjs-check", topics: [a.topic] });
  await admin.disconnect();
  console.log(`consumed ${got} of ${want} records up to the end offsets`);

  // Per producer and partition, values in the log come in send order.
  const byProducerPart = new Map();
  for (const [part, offs] of perPartition) {
    if (offs.some((o, i) => i > 0 && o <= offs[i - 1])) problems.push(`partition ${part} read out of offset order`);
  }
  const dups = [...seen].filter(([, at]) => at.length > 1);
  const missing = [...acked.keys()].filter((v) => !seen.has(v));
  for (const [v, at] of seen) {
    const [, p, r] = /^p(\d+)-r(\d+)$/.exec(v) || [];
    const key = `${p}/${at[0][0]}`;
    // Values come in offset order per partition: their record numbers rise.
    if (byProducerPart.get(key) > Number(r)) problems.push(`producer ${p} partition ${at[0][0]}: log order differs from send order`);
    byProducerPart.set(key, Number(r));
  }
  if (dups.length) problems.push(`${dups.length} values stored twice, e.g. ${dups[0][0]} at ${JSON.stringify(dups[0][1])}`);
  if (missing.length) problems.push(`${missing.length} acknowledged values not read back, e.g. ${missing[0]}`);
  if (acked.size !== sent) problems.push(`${sent - acked.size} of ${sent} records not acknowledged`);
  const behind = committed[0].partitions.filter((p) => Number(p.offset) !== end.get(p.partition));
  if (behind.length) problems.push(`committed offsets behind the end on partitions ${behind.map((p) => p.partition)}`);
  if (problems.length) {
    console.log(`RESULT: FAIL ${problems.slice(0, 8).join("; ")}`);
    process.exit(1);
  }
  console.log(`RESULT: OK ${acked.size} records produced and read back once, in order (group)`);
  process.exit(0);
}

main().catch((e) => {
  console.log(`RESULT: FAIL ${e.stack || e}`);
  process.exit(1);
});
