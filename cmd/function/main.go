// Command function runs the root function the way the code that `func build`
// scaffolds does: through the func-go runtime, which serves the health
// probes, calls Start and Stop, and listens on LISTEN_ADDRESS (default
// [::]:8080). FUNCTION picks the role. `function --help` lists the variables.
package main

import (
	"fmt"
	"os"

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
