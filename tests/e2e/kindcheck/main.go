// Command kindcheck loads a kind cluster configuration with kind's own loader and validation,
// the code `kind create cluster --config` runs before it touches Docker, and prints the result
// as JSON with the node image kind defaults to.
//
// kind keeps its loader in an internal package, so tests/cluster/test_e2e_static.py copies the
// pinned sigs.k8s.io/kind module into a temporary directory, places this file at
// pkg/botgatewaykindcheck/main.go inside it and builds it there.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/internal/apis/config/encoding"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kindcheck CONFIG")
		os.Exit(2)
	}
	cfg, err := encoding.Load(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "kind cannot load %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "kind refuses %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	out := map[string]interface{}{"defaultImage": defaults.Image, "config": cfg}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
