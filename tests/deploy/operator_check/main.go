// operator_check validates the Prometheus Operator objects that deploy/k8s
// renders (the ServiceMonitor and the PrometheusRule of the optional
// components) against the Operator's own Go API types
// (github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring),
// with no cluster and no CRD at hand. kubernetes-validate (check_schemas.py)
// has no schema for custom resources, so without this a misspelt field in
// them would only show when the Operator ignores it.
//
// An unknown field or a value of the wrong type fails. The PrometheusRule's
// expressions and durations are promtool's to check (check_alert_rules.py;
// check_kustomize.py proves the spec is the rules file).
//
// Input: on stdin, one JSON object per line (check_schemas.py writes them).
// Usage: operator_check < objects.jsonl
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

func main() {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 0, 1<<20), 16<<20)
	failed, checked := false, 0
	for scanner.Scan() {
		line := bytes.TrimSpace(scanner.Bytes())
		if len(line) == 0 {
			continue
		}
		name, err := check(line)
		if err != nil {
			fmt.Printf("FAIL: %s: %v\n", name, err)
			failed = true
		} else {
			fmt.Printf("ok: %s\n", name)
		}
		checked++
	}
	if err := scanner.Err(); err != nil {
		fmt.Printf("FAIL: reading stdin: %v\n", err)
		failed = true
	}
	if checked == 0 {
		fmt.Println("FAIL: no objects on stdin")
		failed = true
	}
	if failed {
		os.Exit(1)
	}
}

// check decodes one object into the Operator type of its kind, rejecting
// unknown fields, and returns "Kind name" for the report.
func check(text []byte) (string, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(text, &head); err != nil {
		return "?", fmt.Errorf("not JSON: %w", err)
	}
	name := head.Kind + " " + head.Metadata.Name
	if head.APIVersion != monitoringv1.SchemeGroupVersion.String() {
		return name, fmt.Errorf("apiVersion %q, want %q", head.APIVersion, monitoringv1.SchemeGroupVersion)
	}
	var target any
	switch head.Kind {
	case monitoringv1.ServiceMonitorsKind:
		target = &monitoringv1.ServiceMonitor{}
	case monitoringv1.PrometheusRuleKind:
		target = &monitoringv1.PrometheusRule{}
	default:
		return name, fmt.Errorf("no check for kind %q", head.Kind)
	}
	decoder := json.NewDecoder(bytes.NewReader(text))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(target); err != nil {
		return name, err
	}
	return name, nil
}
