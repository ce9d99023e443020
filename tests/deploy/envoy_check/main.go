// envoy_check validates an Envoy bootstrap file against Envoy's own API
// (go-control-plane's generated types and their protoc-gen-validate rules),
// so deploy/mesh/envoy/envoy.yaml is checked field by field with no Envoy
// binary: an unknown field, a misspelt enum or a missing required field fails.
//
// Usage: envoy_check FILE.yaml
package main

import (
	"fmt"
	"os"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	// The typed_config and typed_extension_protocol_options types the file
	// names: linked in so that their Any values resolve.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: envoy_check FILE.yaml")
		os.Exit(2)
	}
	text, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	asJSON, err := yaml.YAMLToJSON(text)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %s is not YAML: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	var bootstrap bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(asJSON, &bootstrap); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %s is not an Envoy v3 bootstrap: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	if err := validate(&bootstrap); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %s breaks Envoy's validation rules: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	fmt.Printf("ok: %s is a valid Envoy v3 bootstrap (%d listeners, %d clusters)\n", os.Args[1],
		len(bootstrap.GetStaticResources().GetListeners()), len(bootstrap.GetStaticResources().GetClusters()))
}

// validate applies a message's validation rules, then those of every message
// packed in an Any inside it (typed_config, typed_extension_protocol_options):
// ValidateAll stops at an Any.
func validate(m proto.Message) error {
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	var err error
	visit := func(value protoreflect.Value) bool {
		msg := value.Message().Interface()
		if packed, ok := msg.(*anypb.Any); ok {
			inner, unpackErr := packed.UnmarshalNew()
			if unpackErr != nil {
				err = fmt.Errorf("%s: %w", packed.GetTypeUrl(), unpackErr)
				return false
			}
			msg = inner
		}
		if e := validate(msg); e != nil {
			err = e
			return false
		}
		return true
	}
	m.ProtoReflect().Range(func(field protoreflect.FieldDescriptor, value protoreflect.Value) bool {
		switch {
		case field.IsList() && field.Message() != nil:
			for i := 0; i < value.List().Len(); i++ {
				if !visit(value.List().Get(i)) {
					return false
				}
			}
		case field.IsMap() && field.MapValue().Message() != nil:
			value.Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool { return visit(v) })
		case field.Message() != nil && !field.IsMap():
			return visit(value)
		}
		return err == nil
	})
	return err
}
