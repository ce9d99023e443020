// mesh_check validates the mesh examples of deploy/mesh against the APIs of
// the proxies that read them, with no proxy at hand:
//   - an Envoy bootstrap (a file with static_resources) against Envoy's v3 API
//     (go-control-plane's generated types and their protoc-gen-validate rules);
//   - an Istio DestinationRule against Istio's API (istio.io/api).
//
// An unknown field, a misspelt enum or a missing required field fails.
//
// Usage: mesh_check FILE.yaml...
package main

import (
	"fmt"
	"os"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	// The typed_config and typed_extension_protocol_options types the Envoy
	// file names: linked in so that their Any values resolve.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	istionetworking "istio.io/api/networking/v1beta1"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mesh_check FILE.yaml...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		if summary, err := check(path); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %s: %v\n", path, err)
			failed = true
		} else {
			fmt.Printf("ok: %s: %s\n", path, summary)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// strict rejects unknown fields, as the proxies' own loaders do.
var strict = protojson.UnmarshalOptions{DiscardUnknown: false}

func check(path string) (string, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var top map[string]any
	if err := yaml.Unmarshal(text, &top); err != nil {
		return "", fmt.Errorf("not YAML: %w", err)
	}
	asJSON, err := yaml.YAMLToJSON(text)
	if err != nil {
		return "", fmt.Errorf("not YAML: %w", err)
	}
	switch {
	case top["static_resources"] != nil:
		var bootstrap bootstrapv3.Bootstrap
		if err := strict.Unmarshal(asJSON, &bootstrap); err != nil {
			return "", fmt.Errorf("not an Envoy v3 bootstrap: %w", err)
		}
		if err := validate(&bootstrap); err != nil {
			return "", fmt.Errorf("breaks Envoy's validation rules: %w", err)
		}
		return fmt.Sprintf("a valid Envoy v3 bootstrap (%d listeners, %d clusters)",
			len(bootstrap.GetStaticResources().GetListeners()), len(bootstrap.GetStaticResources().GetClusters())), nil
	case top["kind"] == "DestinationRule":
		spec, err := yaml.Marshal(top["spec"])
		if err != nil {
			return "", err
		}
		specJSON, err := yaml.YAMLToJSON(spec)
		if err != nil {
			return "", err
		}
		var rule istionetworking.DestinationRule
		if err := strict.Unmarshal(specJSON, &rule); err != nil {
			return "", fmt.Errorf("spec is not an Istio DestinationRule: %w", err)
		}
		if rule.GetHost() == "" {
			return "", fmt.Errorf("spec.host is empty")
		}
		return fmt.Sprintf("a valid Istio DestinationRule for host %s", rule.GetHost()), nil
	}
	return "", fmt.Errorf("neither an Envoy bootstrap (static_resources) nor an Istio DestinationRule")
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
