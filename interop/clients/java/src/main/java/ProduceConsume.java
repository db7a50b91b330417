// A user's own produce-then-consume check with the Apache Kafka Java client
// (org.apache.kafka:kafka-clients, version pinned in interop/clients/java/pom.xml): the
// same check as interop/clients/confluent-kafka/produce_consume.py.
//
// Creates the topic (Admin.createTopics; TOPIC_ALREADY_EXISTS is fine; the
// replication factor defaults to min(3, brokers in the cluster)), produces
// PRODUCERS x RECORDS records, one KafkaProducer after another (idempotent,
// acks=all, client.id java-producer-P, the client's defaults otherwise:
// linger.ms 5, max.in.flight 5, retries unbounded within delivery.timeout.ms,
// which is set to --timeout), each value unique ("pP-rI", key I % 97). Then it
// reads everything back and checks that every acknowledged record is there
// exactly once, at the offset its acknowledgement named, and that each
// producer's acknowledged offsets rise in send order per partition.
// Reading back: `--read assign` assigns every partition from its beginning
// offset (ListOffsets earliest), `--read group` subscribes with the consumer
// group java-check (auto commit; the committed offsets must reach the end).
// Prints exactly one `RESULT: OK ...` or `RESULT: FAIL ...` line on stdout;
// exit code 0 or 1 (2 for bad flags). The client's own log (WARN and up) goes
// to stderr.
//
// Build and run (from the repository root):
//   mvn -q -B -f interop/clients/java/pom.xml package
//   java -jar interop/clients/java/target/produce-consume.jar --bootstrap HOST:PORT \
//       [--topic java-check] [--partitions 6] [--producers 3] [--records 5000]
//       [--read assign|group] [--timeout 60] [--spread-secs 0]
//       [--compression none|gzip|snappy|lz4|zstd] [--replication N]
//       [--group-protocol classic|consumer] [--outcomes FILE]
// --outcomes FILE also writes what each producer sent and was told, in the
// format of `sim serve --outcomes` (docs/serve.md), and names the producers
// producer-P (that format's client ids) instead of java-producer-P.
// The API versions the client picks, per broker:
//   java -Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.NetworkClient=debug -jar ...

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class ProduceConsume {

    static final class Args {
        String bootstrap;
        String topic = "java-check";
        int partitions = 6;
        int producers = 3;
        int records = 5000;
        String read = "assign";
        double timeout = 60;
        double spreadSecs = 0;
        String compression = "none";
        Short replication; // null: min(3, brokers in the cluster)
        String groupProtocol = "classic";
        String outcomes; // null: none
    }

    static final String USAGE = "usage: java -jar produce-consume.jar --bootstrap HOST:PORT[,...]"
            + " [--topic T] [--partitions N] [--producers N] [--records N] [--read assign|group]"
            + " [--timeout SECS] [--spread-secs SECS] [--compression none|gzip|snappy|lz4|zstd]"
            + " [--replication N] [--group-protocol classic|consumer] [--outcomes FILE]";

    public static void main(String[] argv) {
        Args a;
        try {
            a = parse(argv);
        } catch (IllegalArgumentException e) {
            System.err.println("produce-consume: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        int rc;
        try {
            rc = run(a);
        } catch (Throwable e) {
            // Whatever went wrong, one RESULT line.
            e.printStackTrace();
            System.out.println("RESULT: FAIL " + describe(e));
            rc = 1;
        }
        System.out.flush();
        System.exit(rc);
    }

    static Args parse(String[] argv) {
        Args a = new Args();
        for (int i = 0; i < argv.length; i++) {
            String flag = argv[i];
            if (flag.equals("-h") || flag.equals("--help")) {
                System.out.println(USAGE);
                System.exit(0);
            }
            if (i + 1 >= argv.length) {
                throw new IllegalArgumentException(flag + " needs a value");
            }
            String v = argv[++i];
            try {
                switch (flag) {
                    case "--bootstrap" -> a.bootstrap = v;
                    case "--topic" -> a.topic = v;
                    case "--partitions" -> a.partitions = Integer.parseInt(v);
                    case "--producers" -> a.producers = Integer.parseInt(v);
                    case "--records" -> a.records = Integer.parseInt(v);
                    case "--read" -> a.read = oneOf(flag, v, "assign", "group");
                    case "--timeout" -> a.timeout = Double.parseDouble(v);
                    case "--spread-secs" -> a.spreadSecs = Double.parseDouble(v);
                    case "--compression" -> a.compression = oneOf(flag, v, "none", "gzip", "snappy", "lz4", "zstd");
                    case "--replication" -> a.replication = Short.parseShort(v);
                    case "--group-protocol" -> a.groupProtocol = oneOf(flag, v, "classic", "consumer");
                    case "--outcomes" -> a.outcomes = v;
                    default -> throw new IllegalArgumentException("unknown flag " + flag);
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(flag + ": not a number: " + v);
            }
        }
        if (a.bootstrap == null) {
            throw new IllegalArgumentException("--bootstrap is required");
        }
        if (a.partitions < 1 || a.producers < 1 || a.records < 1 || a.timeout <= 0 || a.spreadSecs < 0) {
            throw new IllegalArgumentException("--partitions, --producers, --records and --timeout must be positive");
        }
        return a;
    }

    static String oneOf(String flag, String v, String... allowed) {
        for (String x : allowed) {
            if (x.equals(v)) {
                return v;
            }
        }
        throw new IllegalArgumentException(flag + " must be one of " + String.join("|", allowed) + ", got " + v);
    }

    /** Where a record was acknowledged or read: partition and offset. */
    record At(int partition, long offset) {
        @Override
        public String toString() {
            return "(" + partition + ", " + offset + ")";
        }
    }

    static int run(Args a) throws Exception {
        long t0 = System.nanoTime();
        createTopic(a);

        Map<String, At> acked = new ConcurrentHashMap<>(); // value -> where its ack said
        List<String> errors = Collections.synchronizedList(new ArrayList<>());
        List<String> problems = new ArrayList<>();
        long tProduce = System.nanoTime();
        try (Outcomes out = new Outcomes(a.outcomes)) {
            for (int p = 0; p < a.producers; p++) {
                produce(a, p, acked, errors, problems, out);
            }
        }
        int sent = a.producers * a.records;
        System.out.printf(Locale.ROOT, "produced: %d acknowledged, %d errors of %d (%.1f s)%n",
                acked.size(), errors.size(), sent, secs(tProduce));
        System.out.flush();

        List<String> all = new ArrayList<>();
        synchronized (errors) {
            all.addAll(errors.subList(0, Math.min(5, errors.size())));
        }
        all.addAll(problems);

        long tRead = System.nanoTime();
        Map<String, List<At>> seen = new HashMap<>();
        all.addAll(readBack(a, seen));
        List<String> dups = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        List<String> wrong = new ArrayList<>();
        int phantoms = 0;
        long total = 0;
        for (Map.Entry<String, List<At>> e : seen.entrySet()) {
            total += e.getValue().size();
            if (e.getValue().size() > 1) {
                dups.add(e.getKey());
            }
            if (!acked.containsKey(e.getKey())) {
                phantoms++;
            }
        }
        for (Map.Entry<String, At> e : new TreeMap<>(acked).entrySet()) {
            List<At> at = seen.get(e.getKey());
            if (at == null) {
                missing.add(e.getKey());
            } else if (!at.get(0).equals(e.getValue())) {
                wrong.add(e.getKey());
            }
        }
        Collections.sort(dups);
        System.out.printf(Locale.ROOT,
                "read back: %d records, %d duplicated, %d missing, %d at another offset, %d never acknowledged (%.1f s)%n",
                total, dups.size(), missing.size(), wrong.size(), phantoms, secs(tRead));
        if (!dups.isEmpty()) {
            all.add(dups.size() + " values stored twice, e.g. '" + dups.get(0) + "' at " + seen.get(dups.get(0)));
        }
        if (!missing.isEmpty()) {
            all.add(missing.size() + " acknowledged values not read back, e.g. '" + missing.get(0)
                    + "' acknowledged at " + acked.get(missing.get(0)));
        }
        if (!wrong.isEmpty()) {
            String v = wrong.get(0);
            all.add(wrong.size() + " values at another offset than acknowledged, e.g. '" + v
                    + "' acknowledged at " + acked.get(v) + ", read at " + seen.get(v));
        }
        if (acked.size() != sent) {
            all.add((sent - acked.size()) + " of " + sent + " records not acknowledged");
        }
        if (!all.isEmpty()) {
            System.out.println("RESULT: FAIL " + String.join("; ", all));
            return 1;
        }
        System.out.printf(Locale.ROOT, "RESULT: OK %d records produced and read back once, in order (%s, %s, %.1f s)%n",
                acked.size(), a.read, a.compression, secs(t0));
        return 0;
    }

    static double secs(long since) {
        return (System.nanoTime() - since) / 1e9;
    }

    static String describe(Throwable e) {
        while (e instanceof ExecutionException && e.getCause() != null) {
            e = e.getCause();
        }
        return e.getClass().getName() + ": " + e.getMessage();
    }

    static void createTopic(Args a) throws Exception {
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
        ap.put(AdminClientConfig.CLIENT_ID_CONFIG, "java-admin");
        try (Admin admin = Admin.create(ap)) {
            short rf;
            if (a.replication != null) {
                rf = a.replication;
            } else {
                int brokers = admin.describeCluster().nodes().get(30, TimeUnit.SECONDS).size();
                rf = (short) Math.max(1, Math.min(3, brokers));
            }
            try {
                admin.createTopics(List.of(new NewTopic(a.topic, a.partitions, rf))).all().get(30, TimeUnit.SECONDS);
                System.out.printf("topic %s created: %d partitions, replication factor %d%n", a.topic, a.partitions, rf);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
                System.out.printf("topic %s exists already%n", a.topic);
            }
        }
    }

    static void produce(Args a, int p, Map<String, At> acked, List<String> errors, List<String> problems,
            Outcomes out) throws InterruptedException {
        long timeoutMs = (long) (a.timeout * 1000);
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
        // sim serve's --outcomes names producer P by the client id producer-P.
        pp.put(ProducerConfig.CLIENT_ID_CONFIG, (a.outcomes == null ? "java-producer-" : "producer-") + p);
        pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, a.compression);
        pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Long.toString(timeoutMs));
        // delivery.timeout.ms must cover linger.ms (5) + request.timeout.ms (30 s).
        if (timeoutMs < 30_005) {
            pp.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(Math.max(1, timeoutMs - 5)));
        }
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());

        int[] partition = new int[a.records];
        long[] offset = new long[a.records];
        java.util.Arrays.fill(offset, -1);
        CountDownLatch done = new CountDownLatch(a.records);
        try (KafkaProducer<String, String> prod = new KafkaProducer<>(pp)) {
            for (int i = 0; i < a.records; i++) {
                final int idx = i;
                String value = "p" + p + "-r" + i;
                String key = Integer.toString(i % 97);
                out.send(p, i, key, value);
                try {
                    prod.send(new ProducerRecord<>(a.topic, key, value), (md, ex) -> {
                        if (ex != null) {
                            String what = ex.getClass().getSimpleName() + ": " + ex.getMessage();
                            errors.add("'" + value + "': " + what);
                            out.fail(p, idx, md == null ? -1 : md.partition(), what);
                        } else {
                            partition[idx] = md.partition();
                            offset[idx] = md.offset();
                            acked.put(value, new At(md.partition(), md.offset()));
                            out.ack(p, idx, md.partition(), md.offset());
                        }
                        done.countDown();
                    });
                } catch (KafkaException e) {
                    String what = "send: " + e.getClass().getSimpleName() + ": " + e.getMessage();
                    errors.add("'" + value + "': " + what);
                    out.fail(p, idx, -1, what);
                    done.countDown();
                }
                if (a.spreadSecs > 0 && i % 100 == 99) {
                    Thread.sleep((long) (a.spreadSecs * 100_000 / a.records));
                }
            }
            // Like flush(), bounded: every record acknowledged or failed.
            if (!done.await(timeoutMs + 10_000, TimeUnit.MILLISECONDS)) {
                errors.add("producer " + p + ": " + done.getCount() + " records still in flight after "
                        + (timeoutMs + 10_000) / 1000 + " s");
            }
            prod.close(Duration.ofSeconds(10));
        }
        out.closed(p);
        // The acknowledged offsets must rise in send order, per partition.
        Map<Integer, Long> last = new TreeMap<>();
        Set<Integer> reported = new HashSet<>();
        // (close() joined the client's I/O thread, which ran the callbacks.)
        for (int i = 0; i < a.records; i++) {
            if (offset[i] < 0) {
                continue;
            }
            Long prev = last.put(partition[i], offset[i]);
            if (prev != null && offset[i] <= prev && reported.add(partition[i])) {
                problems.add("producer " + p + " partition " + partition[i]
                        + ": acknowledged offsets out of send order (record #" + i + " at " + offset[i]
                        + " after " + prev + ")");
            }
        }
    }

    /** Fills seen (value -> where it was read), returns problems. */
    static List<String> readBack(Args a, Map<String, List<At>> seen) {
        List<String> late = new ArrayList<>();
        boolean group = a.read.equals("group");
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
        cp.put(ConsumerConfig.CLIENT_ID_CONFIG, "java-consumer");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        if (group) {
            cp.put(ConsumerConfig.GROUP_ID_CONFIG, "java-check");
            cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true");
            cp.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, a.groupProtocol);
            if (a.groupProtocol.equals("classic")) {
                cp.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
            }
        } else {
            cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        }
        Duration meta = Duration.ofSeconds(30);
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
            List<PartitionInfo> infos = c.partitionsFor(a.topic, meta);
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo pi : infos) {
                tps.add(new TopicPartition(a.topic, pi.partition()));
            }
            tps.sort((x, y) -> Integer.compare(x.partition(), y.partition()));
            Map<TopicPartition, Long> low = c.beginningOffsets(tps, meta);
            Map<TopicPartition, Long> high = c.endOffsets(tps, meta);
            if (group) {
                c.subscribe(List.of(a.topic));
            } else {
                c.assign(tps);
                for (TopicPartition tp : tps) {
                    c.seek(tp, low.get(tp));
                }
            }
            long want = 0;
            Map<Integer, Long> position = new LinkedHashMap<>();
            Map<Integer, Long> end = new HashMap<>();
            for (TopicPartition tp : tps) {
                want += high.get(tp) - low.get(tp);
                position.put(tp.partition(), low.get(tp));
                end.put(tp.partition(), high.get(tp));
            }
            long got = 0;
            int consumerErrors = 0;
            long deadline = System.nanoTime() + (long) (a.timeout * 1e9);
            boolean stopped = false;
            while (System.nanoTime() < deadline && behind(position, end)) {
                ConsumerRecords<String, String> recs;
                try {
                    recs = c.poll(Duration.ofMillis(500));
                } catch (KafkaException e) {
                    if (consumerErrors++ < 10) {
                        System.err.println("consumer error: " + e);
                    }
                    if (e instanceof RetriableException) {
                        continue;
                    }
                    // Fatal (an unsupported API version, say): polling again gets nowhere.
                    late.add("consumer error: " + e.getClass().getSimpleName() + ": " + e.getMessage());
                    stopped = true;
                    break;
                }
                for (ConsumerRecord<String, String> r : recs) {
                    String v = r.value() == null ? "<null>" : r.value();
                    seen.computeIfAbsent(v, k -> new ArrayList<>()).add(new At(r.partition(), r.offset()));
                    position.put(r.partition(), r.offset() + 1);
                    got++;
                }
            }
            if (behind(position, end)) {
                List<String> short_ = new ArrayList<>();
                for (Map.Entry<Integer, Long> e : position.entrySet()) {
                    if (e.getValue() < end.get(e.getKey())) {
                        short_.add(e.getKey() + " at " + e.getValue() + " of " + end.get(e.getKey()));
                    }
                }
                late.add("not read to the end" + (stopped ? "" : " within " + a.timeout + " s") + ": partitions "
                        + short_);
            }
            if (group) {
                try {
                    c.commitSync(meta);
                    Map<TopicPartition, OffsetAndMetadata> committed = c.committed(new HashSet<>(tps), meta);
                    List<Integer> lagging = new ArrayList<>();
                    for (TopicPartition tp : tps) {
                        OffsetAndMetadata om = committed.get(tp);
                        if (om == null || om.offset() != high.get(tp)) {
                            lagging.add(tp.partition());
                        }
                    }
                    if (!lagging.isEmpty()) {
                        late.add("committed offsets behind the end on partitions " + lagging);
                    }
                } catch (KafkaException e) {
                    late.add("committing or reading the committed offsets: " + e.getClass().getSimpleName() + ": "
                            + e.getMessage());
                }
            }
            System.out.printf("consumed %d of %d records between the watermarks%n", got, want);
            System.out.flush();
        }
        return late;
    }

    static boolean behind(Map<Integer, Long> position, Map<Integer, Long> end) {
        for (Map.Entry<Integer, Long> e : position.entrySet()) {
            if (e.getValue() < end.get(e.getKey())) {
                return true;
            }
        }
        return false;
    }

    /**
     * The outcomes file of `sim serve --outcomes` (docs/serve.md): SEND P R KEY
     * VALUE, ACK P R PARTITION OFFSET, FAIL P R PARTITION|- ERROR, CLOSED P;
     * keys and values in hex. Does nothing without --outcomes.
     */
    static final class Outcomes implements AutoCloseable {
        private final java.io.PrintWriter w;

        Outcomes(String path) throws java.io.IOException {
            w = path == null ? null
                    : new java.io.PrintWriter(java.nio.file.Files.newBufferedWriter(java.nio.file.Path.of(path)));
        }

        private synchronized void line(String s) {
            if (w != null) {
                w.println(s);
            }
        }

        void send(int p, int r, String key, String value) {
            if (w != null) {
                line("SEND " + p + " " + r + " " + hex(key) + " " + hex(value));
            }
        }

        void ack(int p, int r, int partition, long offset) {
            line("ACK " + p + " " + r + " " + partition + " " + offset);
        }

        void fail(int p, int r, int partition, String error) {
            line("FAIL " + p + " " + r + " " + (partition < 0 ? "-" : Integer.toString(partition)) + " "
                    + error.replaceAll("\\s+", " "));
        }

        void closed(int p) {
            line("CLOSED " + p);
            if (w != null) {
                synchronized (this) {
                    w.flush();
                }
            }
        }

        static String hex(String s) {
            if (s == null) {
                return "-";
            }
            StringBuilder b = new StringBuilder();
            for (byte x : s.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
                b.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
            }
            return b.toString();
        }

        @Override
        public synchronized void close() {
            if (w != null) {
                w.close();
            }
        }
    }
}
