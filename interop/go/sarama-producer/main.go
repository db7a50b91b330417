// Command sarama-producer drives Sarama's idempotent AsyncProducer against
// one or more Kafka clusters, one producer per cluster, for prodsim's interop
// tests.
//
// One source, two Saramas (see ../README.md): the source imports
// github.com/IBM/sarama; `go build` uses go.mod (IBM/sarama v1.61.1) and
// `go build -modfile=sarama-1.22.mod` replaces that path with
// github.com/Shopify/sarama v1.22.1, the version of the original report.
// The program prints which one it runs on stderr when it starts.
//
// Every producer is handed the same records in the same order. With -share,
// each record is one *ProducerMessage handed to every producer, which is what
// the original Sarama report did (sending one message pointer to two
// clusters); without it, every producer gets its own copy.
//
// Record i: key "k<i%37>" unless i%5 == 0 (no key), value
// "sarama-<i>-" followed by i%200 'x', header trace=t<i> when i%3 == 0.
//
// Output on stdout, in the outcome format `sim serve --outcomes` and
// prodsim's checker read (sim/src/outcomes.rs): per record and producer
//
//	SEND <producer> <record> <key hex|-> <value hex> [<header key hex>=<value hex>]
//	ACK <producer> <record> <partition> <offset>
//	FAIL <producer> <record>|- <partition> <error>
//
// with the partition as Sarama reports it in the message (record "-": Sarama
// returned an error without a message, or a message whose metadata was gone),
// and "CLOSED <producer>" once a producer's close returned. Producers that have
// not closed by the deadline are left as they are. Exits 1 on a configuration or
// connection error.
//
// -verify: once every producer closed, read every partition back with
// Sarama's consumer and print one line "VERIFY: OK ..." or "VERIFY: FAIL ..."
// (every acknowledged record at its offset, no value stored more often than
// it was sent, no value stored that was never sent; a failure counts each
// kind and shows its first example). The topic should be new: values repeat
// from run to run.
//
// -version: the Kafka version Sarama is configured for (default 0.11.0.0, the
// oldest that allows idempotence and the one the original finding used; the
// protocol versions Sarama speaks follow from it). Sarama's own defaults are
// 0.8.2.0 in 1.22.1 and 2.8.0.0 in 1.61.1; 1.22.1 knows versions up to 2.2.0.0.
//
// Usage: sarama-producer -topic T -records N [-share] [-deadline D] [-client-id ID] [-version V] [-verify] BOOTSTRAP...
package main

import (
	"encoding/hex"
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

func message(topic string, i int) *sarama.ProducerMessage {
	msg := &sarama.ProducerMessage{
		Topic:    topic,
		Value:    sarama.StringEncoder(fmt.Sprintf("sarama-%d-%s", i, strings.Repeat("x", i%200))),
		Metadata: i,
	}
	if i%5 != 0 {
		msg.Key = sarama.StringEncoder(fmt.Sprintf("k%d", i%37))
	}
	if i%3 == 0 {
		msg.Headers = []sarama.RecordHeader{{Key: []byte("trace"), Value: []byte(fmt.Sprintf("t%d", i))}}
	}
	return msg
}

// version is the Kafka version Sarama is configured for (-version).
var version = sarama.V0_11_0_0

func config(producer int, clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = fmt.Sprintf("producer-%d", producer) // the name prodsim's checker knows
	if clientID != "" {
		cfg.ClientID = clientID // one for every producer, as in the report
	}
	cfg.Version = version
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	return cfg
}

func main() {
	topic := flag.String("topic", "events", "topic to produce to")
	records := flag.Int("records", 1000, "records per producer")
	share := flag.Bool("share", false, "hand every producer the same *ProducerMessage")
	deadline := flag.Duration("deadline", 30*time.Second, "how long sending and closing may take")
	clientID := flag.String("client-id", "", "one client id for every producer (default producer-<n>)")
	verify := flag.Bool("verify", false, "after closing, read every partition back with Sarama's consumer and check the acknowledged offsets")
	kafkaVersion := flag.String("version", version.String(), "the Kafka version Sarama is configured for")
	flag.Parse()
	v, err := sarama.ParseKafkaVersion(*kafkaVersion)
	if err != nil {
		fmt.Fprintf(os.Stderr, "-version: %v\n", err)
		os.Exit(2)
	}
	version = v
	fmt.Fprintf(os.Stderr, "sarama-producer: %s, configured for Kafka %s\n", library(), version)
	bootstraps := flag.Args()
	if len(bootstraps) == 0 {
		fmt.Fprintln(os.Stderr, "usage: sarama-producer -topic T -records N [-share] [-deadline D] [-client-id ID] [-version V] [-verify] BOOTSTRAP...")
		os.Exit(2)
	}

	var out sync.Mutex
	var acks []ack // under out
	emit := func(format string, args ...interface{}) {
		out.Lock()
		fmt.Printf(format+"\n", args...)
		out.Unlock()
	}

	producers := make([]sarama.AsyncProducer, len(bootstraps))
	for p, bootstrap := range bootstraps {
		producer, err := sarama.NewAsyncProducer(strings.Split(bootstrap, ","), config(p, *clientID))
		if err != nil {
			fmt.Fprintf(os.Stderr, "producer %d (%s): %v\n", p, bootstrap, err)
			os.Exit(1)
		}
		producers[p] = producer
	}

	all := make(chan struct{})
	var closed sync.WaitGroup
	for p, producer := range producers {
		closed.Add(1)
		var drained sync.WaitGroup
		drained.Add(2)
		go func(p int, producer sarama.AsyncProducer) {
			defer drained.Done()
			for msg := range producer.Successes() {
				emit("ACK %d %s %d %d", p, record(msg), msg.Partition, msg.Offset)
				if i, ok := msg.Metadata.(int); ok {
					out.Lock()
					acks = append(acks, ack{p, i, msg.Partition, msg.Offset})
					out.Unlock()
				}
			}
		}(p, producer)
		go func(p int, producer sarama.AsyncProducer) {
			defer drained.Done()
			for e := range producer.Errors() {
				partition := int32(-1)
				if e.Msg != nil {
					partition = e.Msg.Partition
				}
				emit("FAIL %d %s %d %s", p, record(e.Msg), partition, strings.ReplaceAll(e.Err.Error(), "\n", " "))
			}
		}(p, producer)
		go func(p int) {
			drained.Wait() // both channels close once the producer has shut down
			emit("CLOSED %d", p)
			closed.Done()
		}(p)
	}
	go func() {
		closed.Wait()
		close(all)
	}()

	go func() {
		for i := 0; i < *records; i++ {
			shared := message(*topic, i)
			for p, producer := range producers {
				msg := shared
				if !*share {
					msg = message(*topic, i)
				}
				emit("SEND %d %d %s", p, i, content(msg))
				producer.Input() <- msg
			}
		}
		for _, producer := range producers {
			producer.AsyncClose()
		}
	}()

	select {
	case <-all:
	case <-time.After(*deadline):
		fmt.Fprintf(os.Stderr, "deadline of %v passed before every producer closed\n", *deadline)
		if *verify {
			fmt.Println("VERIFY: FAIL the producers did not close before the deadline")
		}
		return
	}
	if *verify {
		out.Lock()
		defer out.Unlock()
		fmt.Println(readBack(bootstraps, *topic, *records, acks))
	}
}

// ack is one acknowledged record: producer, record index, partition, offset.
type ack struct {
	producer, record int
	partition        int32
	offset           int64
}

// readBack consumes every partition of topic on each distinct cluster from the
// oldest offset to the high watermark and checks that each acknowledged
// record is at its offset, that no value is stored more often than the
// producers writing to that cluster sent it, and that every stored value was
// sent. A failure counts every such problem and shows the first of each kind.
func readBack(bootstraps []string, topic string, records int, acks []ack) string {
	byCluster := map[string][]int{} // bootstrap -> producers writing to it
	for p, b := range bootstraps {
		byCluster[b] = append(byCluster[b], p)
	}
	sent := map[string]bool{}
	for i := 0; i < records; i++ {
		v, _ := message(topic, i).Value.Encode()
		sent[string(v)] = true
	}
	read, checked := 0, 0
	var problems []string
	for bootstrap, producers := range byCluster {
		stored, err := consumeAll(bootstrap, topic)
		if err != nil {
			return "VERIFY: FAIL reading back: " + err.Error()
		}
		counts := map[string]int{}
		for _, values := range stored {
			for _, v := range values {
				counts[v]++
				read++
			}
		}
		mine := map[int]bool{}
		for _, p := range producers {
			mine[p] = true
		}
		misplaced, example := 0, ""
		for _, a := range acks {
			if !mine[a.producer] {
				continue
			}
			checked++
			want, _ := message(topic, a.record).Value.Encode()
			got, ok := stored[a.partition][a.offset]
			if !ok || got != string(want) {
				if misplaced == 0 {
					example = fmt.Sprintf("producer %d record %d acknowledged at %d/%d, which holds %.40q", a.producer, a.record, a.partition, a.offset, got)
					if !ok {
						example = fmt.Sprintf("producer %d record %d acknowledged at %d/%d, which holds nothing", a.producer, a.record, a.partition, a.offset)
					}
				}
				misplaced++
			}
		}
		if misplaced > 0 {
			problems = append(problems, fmt.Sprintf("%d acknowledged records not at their offsets, e.g. %s", misplaced, example))
		}
		var extra, unsent []string
		stray := 0
		for v, n := range counts {
			if n > len(producers) {
				extra = append(extra, v)
			}
			if !sent[v] {
				unsent = append(unsent, v)
				stray += n
			}
		}
		sort.Strings(extra)
		sort.Strings(unsent)
		if len(extra) > 0 {
			problems = append(problems, fmt.Sprintf("%d values stored more often than sent, e.g. %.40q %d times by %d producers", len(extra), extra[0], counts[extra[0]], len(producers)))
		}
		if stray > 0 {
			problems = append(problems, fmt.Sprintf("%d stored records hold values never sent, e.g. %.40q", stray, unsent[0]))
		}
	}
	if len(problems) > 0 {
		return fmt.Sprintf("VERIFY: FAIL %s (%d acknowledged records checked, %d records read back)", strings.Join(problems, "; "), checked, read)
	}
	return fmt.Sprintf("VERIFY: OK %d acknowledged records at their offsets; %d records read back", len(acks), read)
}

// consumeAll returns partition -> offset -> value of every record of topic.
func consumeAll(bootstrap, topic string) (map[int32]map[int64]string, error) {
	cfg := sarama.NewConfig()
	cfg.ClientID = "sarama-verify"
	cfg.Version = version
	client, err := sarama.NewClient(strings.Split(bootstrap, ","), cfg)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	partitions, err := client.Partitions(topic)
	if err != nil {
		return nil, err
	}
	stored := map[int32]map[int64]string{}
	for _, part := range partitions {
		end, err := client.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		stored[part] = map[int64]string{}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		timeout := time.After(30 * time.Second)
	loop:
		for {
			select {
			case m := <-pc.Messages():
				stored[part][m.Offset] = string(m.Value)
				if m.Offset+1 >= end {
					break loop
				}
			case e := <-pc.Errors():
				pc.Close()
				return nil, e
			case <-timeout:
				pc.Close()
				return nil, fmt.Errorf("partition %d: read %d records, end offset %d", part, len(stored[part]), end)
			}
		}
		pc.Close()
	}
	return stored, nil
}

// library names the Sarama module this binary was built with, replacement
// included ("github.com/IBM/sarama v1.61.1" or "github.com/Shopify/sarama
// v1.22.1").
func library() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "sarama (no build information)"
	}
	for _, dep := range info.Deps {
		if dep.Path != "github.com/IBM/sarama" && dep.Path != "github.com/Shopify/sarama" {
			continue
		}
		if dep.Replace != nil {
			dep = dep.Replace
		}
		return dep.Path + " " + dep.Version
	}
	return "sarama (not in the build information)"
}

// record is the index of the record msg carries, or "-" when it carries none.
func record(msg *sarama.ProducerMessage) string {
	if msg == nil {
		return "-"
	}
	if i, ok := msg.Metadata.(int); ok {
		return fmt.Sprint(i)
	}
	return "-"
}

// content is msg's key, value and headers in hex, as a SEND line has them.
func content(msg *sarama.ProducerMessage) string {
	field := func(e sarama.Encoder) string {
		if e == nil {
			return "-"
		}
		b, _ := e.Encode() // StringEncoder never fails
		return hex.EncodeToString(b)
	}
	out := field(msg.Key) + " " + field(msg.Value)
	for _, h := range msg.Headers {
		out += " " + hex.EncodeToString(h.Key) + "=" + hex.EncodeToString(h.Value)
	}
	return out
}
