// Command sarama-mock-broker serves one topic from Sarama's MockBroker on
// 127.0.0.1, for prodsim's interop cross-check.
//
// One source, two Saramas (see ../README.md): `go build` uses go.mod
// (github.com/IBM/sarama v1.61.1), `go build -modfile=sarama-1.22.mod` uses
// github.com/Shopify/sarama v1.22.1 under the same import path.
//
// Sarama decodes every Produce request completely, RecordBatch CRC-32C
// included, before it answers. A request that fails to decode is reported on
// stdout as a line "REJECTED: <reason>" and its connection is closed without a
// response; a request that decodes is answered with NONE for every partition.
//
// Usage: sarama-mock-broker TOPIC PARTITIONS
// Prints "LISTENING <host:port>" once ready and serves until stdin closes.
package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"strconv"

	"github.com/IBM/sarama"
)

// reporter is the TestReporter the mock broker reports its errors to.
// (Sarama 1.61's TestReporter also wants Helper; 1.22's does not mind it.)
type reporter struct{}

func (reporter) Helper() {}

func (reporter) Error(args ...interface{}) { fmt.Println("REJECTED:", fmt.Sprint(args...)) }
func (reporter) Errorf(format string, args ...interface{}) {
	fmt.Println("REJECTED:", fmt.Sprintf(format, args...))
}
func (reporter) Fatal(args ...interface{})                 { log.Fatal(args...) }
func (reporter) Fatalf(format string, args ...interface{}) { log.Fatalf(format, args...) }

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sarama-mock-broker TOPIC PARTITIONS")
		os.Exit(2)
	}
	topic := os.Args[1]
	partitions, err := strconv.Atoi(os.Args[2])
	if err != nil || partitions < 1 {
		fmt.Fprintf(os.Stderr, "PARTITIONS: expected a positive integer, got %q\n", os.Args[2])
		os.Exit(2)
	}
	if os.Getenv("SARAMA_LOG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags)
	}

	var t reporter
	broker := sarama.NewMockBrokerAddr(t, 1, "127.0.0.1:0")
	metadata := sarama.NewMockMetadataResponse(t).
		SetBroker(broker.Addr(), broker.BrokerID()).
		SetController(broker.BrokerID())
	for p := 0; p < partitions; p++ {
		metadata.SetLeader(topic, int32(p), broker.BrokerID())
	}
	broker.SetHandlerByMap(map[string]sarama.MockResponse{
		"MetadataRequest": metadata,
		// prodsim's raw client sends Produce v3; answer in the same version.
		"ProduceRequest": sarama.NewMockProduceResponse(t).SetVersion(3),
	})
	fmt.Println("LISTENING", broker.Addr())

	_, _ = io.Copy(io.Discard, os.Stdin)
	broker.Close()
}
