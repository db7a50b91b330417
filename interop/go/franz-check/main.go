// Command franz-check is a user's own produce-then-consume check with
// franz-go (github.com/twmb/franz-go, kgo and kadm, pinned in ../go.mod), the
// same contract as interop/clients/confluent-kafka/produce_consume.py:
//
// It creates the topic (CreateTopics; TOPIC_ALREADY_EXISTS is fine), produces
// PRODUCERS x RECORDS records, one kgo.Client per producer, all producers at
// once, each value unique ("p<producer>-r<record>-<run>", key "<record % 97>";
// <run> is this run's hex nonce, so records of earlier runs on the same topic
// are told apart and skipped),
// then reads everything back and checks that every acknowledged record is
// there exactly once, at the offset its promise named, and that per producer
// and partition the acknowledged offsets grow in send order.
//
// The producers keep franz-go's defaults: idempotent, acks=all, linger 10 ms,
// compression preference snappy then none (a batch goes out compressed only
// when that makes it smaller), no delivery timeout (retries until the flush
// deadline). --compression none|snappy|lz4|zstd|gzip overrides the codec;
// `default` keeps franz-go's preference.
//
// Reading back: `--read assign` consumes every partition from its start
// offset (ListOffsets earliest) to its end offset (ListOffsets latest, taken
// after producing); `--read group` joins consumer group
// "franz-check-<topic>", commits what it read and checks that the committed
// offsets reached the end offsets.
//
// The topic's replication factor is --replication, or min(3, brokers in the
// cluster) when it is 0. FRANZ_LOG=error|warn|info|debug logs the producers'
// and the consumer's kgo events on stderr.
//
// Prints progress lines and one `RESULT: OK ...` or `RESULT: FAIL ...` line;
// exit code 0 or 1 (2 for a usage error).
//
// Usage: franz-check --bootstrap HOST:PORT[,...] [--topic T] [--partitions N]
// [--producers N] [--records N] [--read assign|group] [--timeout SECS]
// [--spread-secs SECS] [--compression C] [--replication N]
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

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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
	compression string
	replication int
}

// at is where a record is: partition and offset.
type at struct {
	partition int32
	offset    int64
}

func main() {
	var o options
	bootstrap := flag.String("bootstrap", "", "bootstrap servers, host:port[,host:port...] (required)")
	flag.StringVar(&o.topic, "topic", "franz-check", "topic to create, produce to and read back")
	flag.IntVar(&o.partitions, "partitions", 6, "partitions of the topic")
	flag.IntVar(&o.producers, "producers", 3, "producers (one kgo.Client each)")
	flag.IntVar(&o.records, "records", 5000, "records per producer")
	flag.StringVar(&o.read, "read", "assign", "how to read back: assign or group")
	timeout := flag.Float64("timeout", 60, "seconds each phase (flush, read back) may take")
	spread := flag.Float64("spread-secs", 0, "spread each producer's sends over this many seconds")
	flag.StringVar(&o.compression, "compression", "default", "none, snappy, lz4, zstd, gzip or default (franz-go's: snappy, else none)")
	flag.IntVar(&o.replication, "replication", 0, "replication factor (0: min(3, brokers))")
	flag.Parse()
	o.timeout = time.Duration(*timeout * float64(time.Second))
	o.spread = time.Duration(*spread * float64(time.Second))
	codecs, err := compression(o.compression)
	if *bootstrap == "" || (o.read != "assign" && o.read != "group") || err != nil || flag.NArg() != 0 {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		fmt.Fprintln(os.Stderr, "usage: franz-check --bootstrap HOST:PORT[,...] [--topic T] [--partitions N] [--producers N] [--records N] [--read assign|group] [--timeout SECS] [--spread-secs SECS] [--compression none|snappy|lz4|zstd|gzip|default] [--replication N]")
		os.Exit(2)
	}
	o.bootstrap = strings.Split(*bootstrap, ",")
	fmt.Fprintf(os.Stderr, "franz-check: franz-go %s, compression %s\n", moduleVersion("github.com/twmb/franz-go"), describe(o.compression))
	os.Exit(check(o, codecs))
}

// describe says what --compression name means.
func describe(name string) string {
	if name == "default" {
		return "default (franz-go's preference: snappy, else none)"
	}
	return name
}

// compression is the codec preference --compression names (nil: franz-go's default).
func compression(name string) ([]kgo.CompressionCodec, error) {
	switch name {
	case "default":
		return nil, nil
	case "none":
		return []kgo.CompressionCodec{kgo.NoCompression()}, nil
	case "snappy":
		return []kgo.CompressionCodec{kgo.SnappyCompression()}, nil
	case "lz4":
		return []kgo.CompressionCodec{kgo.Lz4Compression()}, nil
	case "zstd":
		return []kgo.CompressionCodec{kgo.ZstdCompression()}, nil
	case "gzip":
		return []kgo.CompressionCodec{kgo.GzipCompression()}, nil
	}
	return nil, fmt.Errorf("--compression: unknown codec %q", name)
}

func check(o options, codecs []kgo.CompressionCodec) int {
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
			left, err := produce(o, codecs, p, func(i int, r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Sprintf("%q: %v", r.Value, err))
					return
				}
				acks[p][i] = &at{r.Partition, r.Offset}
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
	acked := map[string]at{} // value -> where its promise said
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
	cl, err := kgo.NewClient(kgo.SeedBrokers(o.bootstrap...), kgo.ClientID("franz-admin"))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	rf := o.replication
	if rf <= 0 {
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		rf = min(3, len(md.Brokers))
	}
	resp, err := adm.CreateTopics(ctx, int32(o.partitions), int16(rf), nil, o.topic)
	if err != nil {
		return err
	}
	for _, r := range resp {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("%w (%s)", r.Err, r.ErrMessage)
		}
	}
	return nil
}

// produce sends producer p's records with one client, calling done for each
// once franz-go resolved it, flushes, and returns how many records were
// still unresolved when the flush deadline passed.
func produce(o options, codecs []kgo.CompressionCodec, p int, done func(int, *kgo.Record, error)) (int, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.bootstrap...),
		kgo.ClientID(fmt.Sprintf("franz-producer-%d", p)),
		kgo.DefaultProduceTopic(o.topic),
	}
	if codecs != nil {
		// A copy per client: franz-go's DefaultCompressor (v1.22.3,
		// compression.go) writes into the codec slice it is given, so
		// clients built concurrently from one slice race on it (Go's race
		// detector reports it) -- the caller's data mutated, as in the
		// Sarama bug this project exists for.
		own := append([]kgo.CompressionCodec(nil), codecs...)
		opts = append(opts, kgo.ProducerBatchCompression(own...))
	}
	opts = append(opts, logging()...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return o.records, err
	}
	var pending sync.WaitGroup
	for i := 0; i < o.records; i++ {
		rec := &kgo.Record{Key: []byte(fmt.Sprint(i % 97)), Value: []byte(value(p, i))}
		pending.Add(1)
		cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
			done(i, r, err)
			pending.Done()
		})
		if o.spread > 0 && i%100 == 99 {
			time.Sleep(o.spread * 100 / time.Duration(o.records))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	left := 0
	if err := cl.Flush(ctx); err != nil {
		left = int(cl.BufferedProduceRecords())
	}
	cl.Close() // fails whatever is still buffered with ErrClientClosed
	pending.Wait()
	return left, nil
}

// readBack returns value -> every place it is stored in the topic, and
// problems with the consumer group's commits.
func readBack(o options) (map[string][]at, []string, error) {
	admCl, err := kgo.NewClient(kgo.SeedBrokers(o.bootstrap...), kgo.ClientID("franz-admin"))
	if err != nil {
		return nil, nil, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	starts, err := adm.ListStartOffsets(ctx, o.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, o.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets: %w", err)
	}
	low := map[int32]int64{}
	high := map[int32]int64{}
	want := int64(0)
	starts.Each(func(l kadm.ListedOffset) { low[l.Partition] = l.Offset })
	ends.Each(func(l kadm.ListedOffset) { high[l.Partition] = l.Offset; want += l.Offset - low[l.Partition] })

	group := "franz-check-" + o.topic
	opts := append([]kgo.Opt{kgo.SeedBrokers(o.bootstrap...), kgo.ClientID("franz-consumer")}, logging()...)
	if o.read == "assign" {
		assign := map[int32]kgo.Offset{}
		for p, l := range low {
			assign[p] = kgo.NewOffset().At(l)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: assign}))
	} else {
		opts = append(opts, kgo.ConsumerGroup(group), kgo.ConsumeTopics(o.topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()

	position := map[int32]int64{}
	for p, l := range low {
		position[p] = l
	}
	behind := func() bool {
		for p, h := range high {
			if position[p] < h {
				return true
			}
		}
		return false
	}
	seen := map[string][]at{}
	got := 0
	readCtx, readCancel := context.WithTimeout(context.Background(), o.timeout)
	defer readCancel()
	for behind() && readCtx.Err() == nil {
		fetches := cl.PollFetches(readCtx)
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "consumer error: %s/%d: %v\n", t, p, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)] = append(seen[string(r.Value)], at{r.Partition, r.Offset})
			position[r.Partition] = r.Offset + 1
			got++
		})
	}
	var late []string
	if o.read == "group" {
		commitCtx, commitCancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer commitCancel()
		if err := cl.CommitUncommittedOffsets(commitCtx); err != nil {
			late = append(late, fmt.Sprintf("committing: %v", err))
		}
		committed, err := adm.FetchOffsets(commitCtx, group)
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			late = append(late, fmt.Sprintf("fetching committed offsets: %v", err))
		} else {
			var lagging []int32
			for p, h := range high {
				c, ok := committed.Lookup(o.topic, p)
				if (!ok && h != 0) || (ok && c.At != h) {
					lagging = append(lagging, p)
				}
			}
			sort.Slice(lagging, func(i, j int) bool { return lagging[i] < lagging[j] })
			if len(lagging) > 0 {
				late = append(late, fmt.Sprintf("committed offsets behind the end on partitions %v", lagging))
			}
		}
	}
	fmt.Printf("consumed %d of %d records between the watermarks\n", got, want)
	return seen, late, nil
}

// logging is kgo's logger on stderr at the level $FRANZ_LOG names (error,
// warn, info or debug), or nothing.
func logging() []kgo.Opt {
	levels := map[string]kgo.LogLevel{"error": kgo.LogLevelError, "warn": kgo.LogLevelWarn, "info": kgo.LogLevelInfo, "debug": kgo.LogLevelDebug}
	level, ok := levels[os.Getenv("FRANZ_LOG")]
	if !ok {
		return nil
	}
	return []kgo.Opt{kgo.WithLogger(kgo.BasicLogger(os.Stderr, level, nil))}
}

// moduleVersion is the version of module path this binary was built with.
func moduleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	for _, dep := range info.Deps {
		if dep.Path == path {
			return dep.Version
		}
	}
	return "(unknown)"
}
