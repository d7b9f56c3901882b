// Command function runs the root function the way the code that `func build`
// scaffolds does: through the func-go runtime, which serves the health
// probes, calls Start and Stop, and listens on LISTEN_ADDRESS (default
// [::]:8080). FUNCTION picks the role. `function --help` lists the variables.
package main

import (
	"fmt"
	"os"

	"github.com/rcrowley/go-metrics"
	fn "knative.dev/func-go/http"

	function "github.com/mskafka/knative-functions"
	"github.com/mskafka/knative-functions/shared/profile"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help") {
		fmt.Println("Environment variables (FUNCTION picks the role):")
		if err := function.Usage(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	// sarama keeps go-metrics meters and histograms of every request that
	// nobody here reads (about 2% of the CPU under load, in the profiles);
	// this is sarama's documented switch to turn them off.
	metrics.UseNilMetrics = true
	// The runtime's own debug lines would drown the functions' JSON logs.
	fn.SetLogLevel(fn.LogWarn)
	stopProfile := profile.Start(os.Getenv("FUNCTION"))
	err := fn.Start(function.New())
	stopProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
