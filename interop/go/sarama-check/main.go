// Command sarama-check is a user's own produce-then-consume check with
// Sarama (github.com/IBM/sarama, pinned in ../go.mod), the same contract as
// interop/clients/confluent-kafka/produce_consume.py and ../franz-check:
//
// It creates the topic (CreateTopics; TOPIC_ALREADY_EXISTS is fine), produces
// PRODUCERS x RECORDS records, one idempotent AsyncProducer per producer, all
// producers at once, each value unique ("p<producer>-r<record>-<run>", key
// "<record % 97>", Sarama's default hash partitioner; <run> is this run's hex
// nonce, so records of earlier runs on the same topic are told apart and
// skipped), then reads everything
// back and checks that every acknowledged record is there exactly once, at
// the offset its success named, and that per producer and partition the
// acknowledged offsets grow in send order.
//
// The producers are Sarama's defaults plus what idempotence requires:
// Producer.Idempotent, RequiredAcks=WaitForAll, Net.MaxOpenRequests=1
// (Sarama's default Retry.Max 3 >= 1 and Version 2.8.0.0 >= 0.11 already
// fit), Return.Successes. --kafka-version sets Config.Version (default
// Sarama's own, 2.8.0.0); --compression none|snappy|lz4|zstd|gzip|default
// sets Producer.Compression (default: Sarama's, none).
//
// The producers call AsyncClose right after their last send, as a user's
// program would, and then drain Successes and Errors; with
// --close-after-acks they call it only once every record has its answer
// (Sarama 1.61 fails batches that need a retry after AsyncClose with
// "message received by producer in process of shutting down").
//
// Reading back: `--read assign` consumes every partition from its oldest
// offset to its newest (taken after producing); `--read group` joins
// consumer group "sarama-check-<topic>", marks and commits what it read and
// checks that the committed offsets reached the end offsets.
//
// The topic's replication factor is --replication, or min(3, brokers in the
// cluster) when it is 0.
//
// Prints progress lines and one `RESULT: OK ...` or `RESULT: FAIL ...` line;
// exit code 0 or 1 (2 for a usage error).
//
// Usage: sarama-check --bootstrap HOST:PORT[,...] [--topic T] [--partitions N]
// [--producers N] [--records N] [--read assign|group] [--timeout SECS]
// [--spread-secs SECS] [--compression C] [--replication N] [--kafka-version V]
// [--close-after-acks]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

type options struct {
	bootstrap   []string
	topic       string
	partitions  int
	producers   int
	records     int
	read        string
	timeout     time.Duration
	spread      time.Duration
	compression sarama.CompressionCodec
	replication int
	version     sarama.KafkaVersion
	closeLate   bool
}

// at is where a record is: partition and offset.
type at struct {
	partition int32
	offset    int64
}

func main() {
	var o options
	bootstrap := flag.String("bootstrap", "", "bootstrap servers, host:port[,host:port...] (required)")
	flag.StringVar(&o.topic, "topic", "sarama-check", "topic to create, produce to and read back")
	flag.IntVar(&o.partitions, "partitions", 6, "partitions of the topic")
	flag.IntVar(&o.producers, "producers", 3, "producers (one AsyncProducer each)")
	flag.IntVar(&o.records, "records", 5000, "records per producer")
	flag.StringVar(&o.read, "read", "assign", "how to read back: assign or group")
	timeout := flag.Float64("timeout", 60, "seconds each phase (flush, read back) may take")
	spread := flag.Float64("spread-secs", 0, "spread each producer's sends over this many seconds")
	codec := flag.String("compression", "default", "none, snappy, lz4, zstd, gzip or default (Sarama's: none)")
	flag.IntVar(&o.replication, "replication", 0, "replication factor (0: min(3, brokers))")
	flag.BoolVar(&o.closeLate, "close-after-acks", false, "call AsyncClose only once every record has its success or error (default: right after the last send)")
	kafkaVersion := flag.String("kafka-version", sarama.DefaultVersion.String(), "Config.Version: the Kafka version Sarama speaks to")
	flag.Parse()
	o.timeout = time.Duration(*timeout * float64(time.Second))
	o.spread = time.Duration(*spread * float64(time.Second))
	var err error
	o.version, err = sarama.ParseKafkaVersion(*kafkaVersion)
	if err == nil {
		o.compression, err = compression(*codec)
	}
	if *bootstrap == "" || (o.read != "assign" && o.read != "group") || err != nil || flag.NArg() != 0 {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		fmt.Fprintln(os.Stderr, "usage: sarama-check --bootstrap HOST:PORT[,...] [--topic T] [--partitions N] [--producers N] [--records N] [--read assign|group] [--timeout SECS] [--spread-secs SECS] [--compression none|snappy|lz4|zstd|gzip|default] [--replication N] [--kafka-version V] [--close-after-acks]")
		os.Exit(2)
	}
	o.bootstrap = strings.Split(*bootstrap, ",")
	if os.Getenv("SARAMA_LOG") != "" {
		sarama.Logger = logger{}
	}
	fmt.Fprintf(os.Stderr, "sarama-check: %s, configured for Kafka %s, compression %s\n", library(), o.version, o.compression)
	os.Exit(check(o))
}

// compression is the codec --compression names.
func compression(name string) (sarama.CompressionCodec, error) {
	switch name {
	case "default":
		return sarama.NewConfig().Producer.Compression, nil
	case "none":
		return sarama.CompressionNone, nil
	case "snappy":
		return sarama.CompressionSnappy, nil
	case "lz4":
		return sarama.CompressionLZ4, nil
	case "zstd":
		return sarama.CompressionZSTD, nil
	case "gzip":
		return sarama.CompressionGZIP, nil
	}
	return 0, fmt.Errorf("--compression: unknown codec %q", name)
}

// config is Sarama's default configuration with client id and version.
func config(o options, clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = clientID
	cfg.Version = o.version
	return cfg
}

func check(o options) int {
	if err := createTopic(o); err != nil {
		fmt.Printf("RESULT: FAIL creating topic %s: %v\n", o.topic, err)
		return 1
	}

	// acks[p][i]: where record i of producer p was acknowledged.
	acks := make([][]*at, o.producers)
	var mu sync.Mutex // guards acks and errs
	var errs []string
	started := time.Now()
	var wg sync.WaitGroup
	for p := 0; p < o.producers; p++ {
		acks[p] = make([]*at, o.records)
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			left, err := produce(o, p, func(i int, m *sarama.ProducerMessage, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Sprintf("%q: %v", value(p, i), err))
					return
				}
				acks[p][i] = &at{m.Partition, m.Offset}
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Sprintf("producer %d: %v", p, err))
			}
			if left > 0 {
				errs = append(errs, fmt.Sprintf("producer %d: %d records still in flight after flush", p, left))
			}
		}(p)
	}
	wg.Wait()
	acked := map[string]at{} // value -> where its success said
	for p := range acks {
		for i, a := range acks[p] {
			if a != nil {
				acked[value(p, i)] = *a
			}
		}
	}
	sent := o.producers * o.records
	fmt.Printf("produced: %d acknowledged, %d errors of %d in %.2f s\n", len(acked), len(errs), sent, time.Since(started).Seconds())

	var problems []string
	problems = append(problems, errs[:min(5, len(errs))]...)
	for p := range acks {
		last := map[int32]int64{}
		reported := map[int32]bool{}
		for _, a := range acks[p] {
			if a == nil {
				continue
			}
			if prev, ok := last[a.partition]; ok && a.offset <= prev && !reported[a.partition] {
				problems = append(problems, fmt.Sprintf("producer %d partition %d: acknowledged offsets out of send order", p, a.partition))
				reported[a.partition] = true
			}
			last[a.partition] = a.offset
		}
	}

	started = time.Now()
	seen, late, err := readBack(o)
	if err != nil {
		fmt.Printf("RESULT: FAIL reading back: %v\n", err)
		return 1
	}
	problems = append(problems, late...)
	var dups, missing, wrong, phantoms []string
	records, older := 0, 0
	for v, where := range seen {
		if !strings.HasSuffix(v, "-"+run) {
			older += len(where)
			continue
		}
		records += len(where)
		if len(where) > 1 {
			dups = append(dups, v)
		}
		if _, ok := acked[v]; !ok {
			phantoms = append(phantoms, v)
		}
	}
	for v, a := range acked {
		where, ok := seen[v]
		if !ok {
			missing = append(missing, v)
		} else if where[0] != a {
			wrong = append(wrong, v)
		}
	}
	sort.Strings(dups)
	sort.Strings(missing)
	sort.Strings(wrong)
	if older > 0 {
		fmt.Printf("skipped %d records of earlier runs\n", older)
	}
	fmt.Printf("read back: %d records, %d duplicated, %d missing, %d at another offset, %d never acknowledged in %.2f s\n",
		records, len(dups), len(missing), len(wrong), len(phantoms), time.Since(started).Seconds())
	if len(dups) > 0 {
		problems = append(problems, fmt.Sprintf("%d values stored twice, e.g. %q at %v", len(dups), dups[0], seen[dups[0]]))
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d acknowledged values not read back, e.g. %q", len(missing), missing[0]))
	}
	if len(wrong) > 0 {
		problems = append(problems, fmt.Sprintf("%d values at another offset than acknowledged, e.g. %q acknowledged at %v, read at %v",
			len(wrong), wrong[0], acked[wrong[0]], seen[wrong[0]]))
	}
	if len(acked) != sent {
		problems = append(problems, fmt.Sprintf("%d of %d records not acknowledged", sent-len(acked), sent))
	}
	if len(problems) > 0 {
		fmt.Println("RESULT: FAIL " + strings.Join(problems, "; "))
		return 1
	}
	fmt.Printf("RESULT: OK %d records produced and read back once, in order (%s)\n", len(acked), o.read)
	return 0
}

// run makes this run's values unique, so that the check can run again on a
// topic that holds an earlier run's records (read back, counted, skipped).
var run = fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff)

func value(p, i int) string { return fmt.Sprintf("p%d-r%d-%s", p, i, run) }

// createTopic creates o.topic unless it exists.
func createTopic(o options) error {
	cfg := config(o, "sarama-admin")
	cfg.Admin.Timeout = 15 * time.Second
	admin, err := sarama.NewClusterAdmin(o.bootstrap, cfg)
	if err != nil {
		return err
	}
	defer admin.Close()
	rf := o.replication
	if rf <= 0 {
		brokers, _, err := admin.DescribeCluster()
		if err != nil {
			return fmt.Errorf("describing the cluster: %w", err)
		}
		rf = min(3, len(brokers))
	}
	err = admin.CreateTopic(o.topic, &sarama.TopicDetail{NumPartitions: int32(o.partitions), ReplicationFactor: int16(rf)}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return err
	}
	return nil
}

// produce sends producer p's records with one idempotent AsyncProducer,
// calling done for each success or error, closes it, and returns how many
// records were still unresolved when the close deadline passed.
func produce(o options, p int, done func(int, *sarama.ProducerMessage, error)) (int, error) {
	cfg := config(o, fmt.Sprintf("sarama-producer-%d", p))
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Compression = o.compression
	producer, err := sarama.NewAsyncProducer(o.bootstrap, cfg)
	if err != nil {
		return o.records, err
	}
	var mu sync.Mutex
	resolved := 0
	var drained sync.WaitGroup
	drained.Add(2)
	go func() {
		defer drained.Done()
		for m := range producer.Successes() {
			done(m.Metadata.(int), m, nil)
			mu.Lock()
			resolved++
			mu.Unlock()
		}
	}()
	go func() {
		defer drained.Done()
		for e := range producer.Errors() {
			i := -1
			if e.Msg != nil {
				if n, ok := e.Msg.Metadata.(int); ok {
					i = n
				}
			}
			if i < 0 {
				fmt.Fprintf(os.Stderr, "producer %d: error without a record: %v\n", p, e.Err)
				continue
			}
			done(i, e.Msg, e.Err)
			mu.Lock()
			resolved++
			mu.Unlock()
		}
	}()
	for i := 0; i < o.records; i++ {
		producer.Input() <- &sarama.ProducerMessage{
			Topic:    o.topic,
			Key:      sarama.StringEncoder(fmt.Sprint(i % 97)),
			Value:    sarama.StringEncoder(value(p, i)),
			Metadata: i,
		}
		if o.spread > 0 && i%100 == 99 {
			time.Sleep(o.spread * 100 / time.Duration(o.records))
		}
	}
	deadline := time.Now().Add(o.timeout)
	if o.closeLate {
		for time.Now().Before(deadline) {
			mu.Lock()
			all := resolved == o.records
			mu.Unlock()
			if all {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	producer.AsyncClose() // flushes, then closes Successes and Errors
	closed := make(chan struct{})
	go func() {
		drained.Wait()
		close(closed)
	}()
	select {
	case <-closed:
		return 0, nil
	case <-time.After(time.Until(deadline)):
		mu.Lock()
		defer mu.Unlock()
		return o.records - resolved, errors.New("close did not return before the timeout")
	}
}

// readBack returns value -> every place it is stored in the topic, and
// problems with the consumer group's commits.
func readBack(o options) (map[string][]at, []string, error) {
	client, err := sarama.NewClient(o.bootstrap, config(o, "sarama-consumer"))
	if err != nil {
		return nil, nil, err
	}
	defer client.Close()
	partitions, err := client.Partitions(o.topic)
	if err != nil {
		return nil, nil, fmt.Errorf("partitions: %w", err)
	}
	low := map[int32]int64{}
	high := map[int32]int64{}
	want := int64(0)
	for _, p := range partitions {
		if low[p], err = client.GetOffset(o.topic, p, sarama.OffsetOldest); err != nil {
			return nil, nil, fmt.Errorf("oldest offset of partition %d: %w", p, err)
		}
		if high[p], err = client.GetOffset(o.topic, p, sarama.OffsetNewest); err != nil {
			return nil, nil, fmt.Errorf("newest offset of partition %d: %w", p, err)
		}
		want += high[p] - low[p]
	}

	r := &reader{seen: map[string][]at{}, position: map[int32]int64{}, high: high}
	for p, l := range low {
		r.position[p] = l
	}
	r.done = make(chan struct{})
	if r.complete() {
		close(r.done)
	}
	group := "sarama-check-" + o.topic
	var late []string
	if o.read == "assign" {
		if err := r.assign(client, o, partitions, low); err != nil {
			return nil, nil, err
		}
	} else {
		late = r.group(o, group)
	}
	r.mu.Lock()
	fmt.Printf("consumed %d of %d records between the watermarks\n", r.got, want)
	r.mu.Unlock()

	if o.read == "group" {
		admin, err := sarama.NewClusterAdminFromClient(client)
		if err != nil {
			return nil, nil, err
		}
		committed, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{o.topic: partitions})
		if err != nil {
			late = append(late, fmt.Sprintf("fetching committed offsets: %v", err))
		} else {
			var lagging []int32
			for p, h := range high {
				b := committed.GetBlock(o.topic, p)
				if (b == nil && h != 0) || (b != nil && b.Offset != h && !(b.Offset == -1 && h == 0)) {
					lagging = append(lagging, p)
				}
			}
			sort.Slice(lagging, func(i, j int) bool { return lagging[i] < lagging[j] })
			if len(lagging) > 0 {
				late = append(late, fmt.Sprintf("committed offsets behind the end on partitions %v", lagging))
			}
		}
	}
	return r.seen, late, nil
}

// reader collects what the consumers read until every partition reached
// its end offset.
type reader struct {
	mu       sync.Mutex
	seen     map[string][]at
	position map[int32]int64 // next offset to read per partition
	high     map[int32]int64
	got      int
	done     chan struct{} // closed once every partition reached high
}

func (r *reader) add(m *sarama.ConsumerMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[string(m.Value)] = append(r.seen[string(m.Value)], at{m.Partition, m.Offset})
	r.got++
	if m.Offset+1 > r.position[m.Partition] {
		r.position[m.Partition] = m.Offset + 1
	}
	if r.complete() && !isClosed(r.done) {
		close(r.done)
	}
}

// complete: every partition read up to its end offset (r.mu held or not shared yet).
func (r *reader) complete() bool {
	for p, h := range r.high {
		if r.position[p] < h {
			return false
		}
	}
	return true
}

// assign reads every partition from low with a PartitionConsumer each.
func (r *reader) assign(client sarama.Client, o options, partitions []int32, low map[int32]int64) error {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range partitions {
		if low[p] >= r.high[p] {
			continue
		}
		pc, err := consumer.ConsumePartition(o.topic, p, low[p])
		if err != nil {
			close(stop)
			wg.Wait()
			return fmt.Errorf("consuming partition %d: %w", p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			for {
				select {
				case m := <-pc.Messages():
					r.add(m)
				case e := <-pc.Errors():
					fmt.Fprintf(os.Stderr, "consumer error: %v\n", e)
				case <-stop:
					return
				}
			}
		}()
	}
	select {
	case <-r.done:
	case <-time.After(o.timeout):
	}
	close(stop)
	wg.Wait()
	return nil
}

// group reads the topic as member of a consumer group, committing what it
// read once every partition reached its end.
func (r *reader) group(o options, group string) []string {
	cfg := config(o, "sarama-consumer")
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Return.Errors = true
	cg, err := sarama.NewConsumerGroup(o.bootstrap, group, cfg)
	if err != nil {
		return []string{fmt.Sprintf("joining group %s: %v", group, err)}
	}
	defer cg.Close()
	go func() {
		for e := range cg.Errors() {
			fmt.Fprintf(os.Stderr, "consumer group error: %v\n", e)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	h := &handler{r: r}
	for ctx.Err() == nil && !isClosed(r.done) {
		// One call per group session; it returns on a rebalance too.
		if err := cg.Consume(ctx, []string{o.topic}, h); err != nil {
			return []string{fmt.Sprintf("consuming: %v", err)}
		}
	}
	return nil
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// handler is the ConsumerGroupHandler: it marks every message and, once the
// reader is complete, commits and ends the session.
type handler struct{ r *reader }

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.r.add(m)
			sess.MarkMessage(m, "")
		case <-h.r.done:
			sess.Commit()
			return nil
		case <-sess.Context().Done():
			return nil
		}
	}
}

// library names the Sarama module this binary was built with.
func library() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "sarama (no build information)"
	}
	for _, dep := range info.Deps {
		if dep.Path == "github.com/IBM/sarama" {
			if dep.Replace != nil {
				dep = dep.Replace
			}
			return dep.Path + " " + dep.Version
		}
	}
	return "sarama (not in the build information)"
}

type logger struct{}

func (logger) Print(v ...interface{})                 { fmt.Fprint(os.Stderr, v...) }
func (logger) Printf(format string, v ...interface{}) { fmt.Fprintf(os.Stderr, format, v...) }
func (logger) Println(v ...interface{})               { fmt.Fprintln(os.Stderr, v...) }
