// kindconfig loads a kind cluster configuration the way kind reads it: decoded strictly (an unknown
// or misspelt field is an error) into kind's own v1alpha4 types, with kind's defaults applied. It
// prints the result as JSON, or the error and exits 1.
//
//	go run . ../../../kind-cluster.yaml
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kindconfig FILE")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var cluster v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(raw, &cluster); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	if cluster.Kind != "Cluster" || cluster.APIVersion != "kind.x-k8s.io/v1alpha4" {
		fmt.Fprintf(os.Stderr, "%s: not a kind.x-k8s.io/v1alpha4 Cluster: %s %s\n", os.Args[1], cluster.APIVersion, cluster.Kind)
		os.Exit(1)
	}
	v1alpha4.SetDefaultsCluster(&cluster)
	out, err := json.Marshal(cluster)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
