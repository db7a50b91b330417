// Command kfake-anchor serves franz-go's in-process fake Kafka cluster
// (github.com/twmb/franz-go/pkg/kfake, pinned by commit in ../go.mod) on
// 127.0.0.1, as a third broker next to real Apache Kafka and `sim serve`: the
// same client checks run against all three, and their differences are the
// interesting part (see /work/shared/NOTES.md on what kfake does not do, for
// one that it never decompresses produced batches).
//
// It starts --brokers brokers with topic --topic of --partitions partitions
// already created, prints how long that took on stderr and
//
//	bootstrap.servers = 127.0.0.1:PORT,127.0.0.1:PORT,...
//
// on stdout (one line, like `sim serve`), then serves until its standard
// input closes or it gets SIGINT or SIGTERM, and closes the cluster.
//
// Usage: kfake-anchor [--brokers N] [--topic T] [--partitions N] [--port P]
// [--log none|error|warn|info|debug] [--as-version X.Y]
//
// --port P listens on P, P+1, ... (default: any free ports); --as-version
// caps the API versions kfake answers at those of that Kafka release.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kversion"
)

func main() {
	brokers := flag.Int("brokers", 3, "brokers in the cluster")
	topic := flag.String("topic", "events", "topic to create at start (empty: none)")
	partitions := flag.Int("partitions", 6, "partitions of --topic")
	port := flag.Int("port", 0, "first port to listen on (0: any free ports)")
	logLevel := flag.String("log", "none", "kfake's log level on stderr: none, error, warn, info or debug")
	asVersion := flag.String("as-version", "", "answer with the API versions of this Kafka release (e.g. 2.8, 3.9)")
	flag.Parse()
	levels := map[string]kfake.LogLevel{
		"none": kfake.LogLevelNone, "error": kfake.LogLevelError, "warn": kfake.LogLevelWarn,
		"info": kfake.LogLevelInfo, "debug": kfake.LogLevelDebug,
	}
	level, ok := levels[*logLevel]
	if !ok || *brokers < 1 || *partitions < 1 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: kfake-anchor [--brokers N] [--topic T] [--partitions N] [--port P] [--log none|error|warn|info|debug] [--as-version X.Y]")
		os.Exit(2)
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(*brokers),
		kfake.WithLogger(kfake.BasicLogger(os.Stderr, level)),
	}
	if *port != 0 {
		ports := make([]int, *brokers)
		for i := range ports {
			ports[i] = *port + i
		}
		opts = append(opts, kfake.Ports(ports...))
	}
	if *topic != "" {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), *topic))
	}
	if *asVersion != "" {
		v := kversion.FromString(*asVersion)
		if v == nil {
			fmt.Fprintf(os.Stderr, "--as-version: unknown Kafka version %q\n", *asVersion)
			os.Exit(2)
		}
		opts = append(opts, kfake.MaxVersions(v))
	}

	started := time.Now()
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfake: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "kfake up: %d brokers, topic %q with %d partitions, in %.1f ms\n",
		*brokers, *topic, *partitions, float64(time.Since(started).Microseconds())/1000)
	fmt.Printf("bootstrap.servers = %s\n", strings.Join(cluster.ListenAddrs(), ","))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case s := <-stop:
		fmt.Fprintf(os.Stderr, "kfake: %v, closing\n", s)
	case <-eof:
		fmt.Fprintln(os.Stderr, "kfake: stdin closed, closing")
	}
	cluster.Close()
}
