// The same module as go.mod, but with github.com/IBM/sarama replaced by
// github.com/Shopify/sarama v1.22.1 (Sarama before it moved to IBM, the
// version of the original shared-message report). Only the two Sarama
// programs build with it:
//
//	go build -modfile=sarama-1.22.mod ./sarama-producer ./sarama-mock-broker
//
// Its sums are in sarama-1.22.sum. Don't `go mod tidy -modfile=` it: tidy
// would add the requirements of every package in the module (franz-go too).
module prodsim/interop/go

go 1.26.0

require github.com/IBM/sarama v1.22.1

require (
	github.com/DataDog/zstd v1.3.6-0.20190409195224-796139022798 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/eapache/go-resiliency v1.1.0 // indirect
	github.com/eapache/go-xerial-snappy v0.0.0-20180814174437-776d5712da21 // indirect
	github.com/eapache/queue v1.1.0 // indirect
	github.com/golang/snappy v0.0.1 // indirect
	github.com/pierrec/lz4 v0.0.0-20190327172049-315a67e90e41 // indirect
	github.com/rcrowley/go-metrics v0.0.0-20181016184325-3113b8401b8a // indirect
	golang.org/x/net v0.0.0-20190404232315-eb5bcb51f2a3 // indirect
)

replace github.com/IBM/sarama => github.com/Shopify/sarama v1.22.1
