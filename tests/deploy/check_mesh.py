#!/usr/bin/env python3
"""ctest deploy_mesh: static checks of deploy/mesh (no Istio or Envoy runs).

- istio/destinationrule.yaml hashes on the header fetchpool-pool-key, for a
  Service that deploy/k8s defines, that is not headless (Istio applies no load
  balancer to a headless Service) and whose port Istio reads as gRPC/HTTP2;
- `kubectl kustomize deploy/mesh/istio` renders the base plus the rule (only
  where kubectl is installed; the rest runs without it);
- envoy/envoy.yaml: a listener whose FetchPool route hashes on the same
  header into a cluster that exists, with RING_HASH or MAGLEV, STRICT_DNS on
  the headless Service's name and grpc port, and HTTP/2 upstream; no retries.

Usage: check_mesh.py REPO_ROOT
"""
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

HEADER = "fetchpool-pool-key"
HCM_TYPE = ("type.googleapis.com/envoy.extensions.filters.network."
            "http_connection_manager.v3.HttpConnectionManager")
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

errors = []


def fail(message):
    errors.append(message)


def services(root):
    """The Services of deploy/k8s/base/service.yaml, by name."""
    docs = yaml.safe_load_all((root / "deploy/k8s/base/service.yaml").read_text())
    return {d["metadata"]["name"]: d for d in docs if d and d.get("kind") == "Service"}


def grpc_port(service):
    """The Service's port that Istio reads as gRPC or HTTP/2, or None."""
    for port in service["spec"].get("ports", []):
        name = port.get("name", "")
        app = port.get("appProtocol")
        if app is not None:
            # Istio reads appProtocol first when it is set.
            if app in ("grpc", "http2", "kubernetes.io/h2c"):
                return port
            continue
        if name.split("-")[0] in ("grpc", "http2"):
            return port
    return None


def check_destination_rule(root, svcs):
    path = root / "deploy/mesh/istio/destinationrule.yaml"
    rule = yaml.safe_load(path.read_text())
    if rule.get("kind") != "DestinationRule" or not rule.get("apiVersion", "").startswith(
            "networking.istio.io/"):
        fail(f"{path.name}: not an Istio DestinationRule")
        return
    spec = rule.get("spec", {})
    host = spec.get("host", "")
    header = (spec.get("trafficPolicy", {}).get("loadBalancer", {})
              .get("consistentHash", {}).get("httpHeaderName"))
    if header != HEADER:
        fail(f"DestinationRule: consistentHash.httpHeaderName is {header!r}, want {HEADER}")
    short = host.split(".")[0]
    service = svcs.get(short)
    if service is None:
        fail(f"DestinationRule: host {host!r} is no Service of deploy/k8s ({sorted(svcs)})")
        return
    if service["spec"].get("clusterIP") == "None":
        fail(f"DestinationRule: host {host!r} is headless; Istio balances no calls to a headless Service")
    if grpc_port(service) is None:
        fail(f"DestinationRule: Service {short} has no port Istio reads as gRPC (name grpc-* or appProtocol)")


def check_kustomize(root):
    if shutil.which("kubectl") is None:
        print("note: kubectl not installed; deploy/mesh/istio not rendered")
        return
    rendered = subprocess.run(["kubectl", "kustomize", str(root / "deploy/mesh/istio")],
                              capture_output=True, text=True)
    if rendered.returncode != 0:
        fail(f"kubectl kustomize deploy/mesh/istio: {rendered.stderr.strip()}")
        return
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered.stdout) if d)
    for kind in ("DestinationRule", "Deployment", "Service"):
        if kind not in kinds:
            fail(f"deploy/mesh/istio renders no {kind} (got {kinds})")


def find_hcm(listener):
    for chain in listener.get("filter_chains", []):
        for f in chain.get("filters", []):
            config = f.get("typed_config", {})
            if config.get("@type") == HCM_TYPE:
                return config
    return None


def check_envoy(root, svcs):
    path = root / "deploy/mesh/envoy/envoy.yaml"
    boot = yaml.safe_load(path.read_text())
    static = boot.get("static_resources", {})
    clusters = {c["name"]: c for c in static.get("clusters", [])}
    hashed_routes = []
    for listener in static.get("listeners", []):
        hcm = find_hcm(listener)
        if hcm is None:
            continue
        if hcm.get("codec_type") not in ("HTTP2", "AUTO"):
            fail(f"envoy: listener {listener.get('name')} codec_type {hcm.get('codec_type')} cannot carry gRPC")
        if not any(f.get("name") == "envoy.filters.http.router" for f in hcm.get("http_filters", [])):
            fail(f"envoy: listener {listener.get('name')} has no router filter")
        for vhost in hcm.get("route_config", {}).get("virtual_hosts", []):
            for route in vhost.get("routes", []):
                action = route.get("route", {})
                if action.get("cluster") not in clusters:
                    fail(f"envoy: route {route.get('match')} names no defined cluster")
                if "retry_policy" in action or "retry_policy" in vhost:
                    fail(f"envoy: route {route.get('match')} retries; only the SDK knows what is replay-safe")
                hashes = [h.get("header", {}).get("header_name") for h in action.get("hash_policy", [])]
                if route.get("match", {}).get("prefix") == "/fetchpool.v1.FetchPool/":
                    hashed_routes.append(route)
                    if hashes != [HEADER]:
                        fail(f"envoy: the FetchPool route hashes on {hashes}, want [{HEADER}]")
    if not hashed_routes:
        fail("envoy: no route for prefix /fetchpool.v1.FetchPool/")
        return
    cluster = clusters[hashed_routes[0]["route"]["cluster"]]
    if cluster.get("lb_policy") not in ("RING_HASH", "MAGLEV"):
        fail(f"envoy: cluster lb_policy {cluster.get('lb_policy')}; a hash_policy needs RING_HASH or MAGLEV")
    if cluster.get("type") != "STRICT_DNS":
        fail(f"envoy: cluster type {cluster.get('type')}; STRICT_DNS makes every pod address a host")
    options = cluster.get("typed_extension_protocol_options", {}).get(HTTP_OPTIONS, {})
    if "http2_protocol_options" not in options.get("explicit_http_config", {}):
        fail("envoy: the cluster does not speak HTTP/2 upstream (explicit_http_config.http2_protocol_options)")
    addresses = [e["endpoint"]["address"]["socket_address"]
                 for group in cluster.get("load_assignment", {}).get("endpoints", [])
                 for e in group.get("lb_endpoints", [])]
    if len(addresses) != 1:
        fail(f"envoy: want one DNS name as the cluster's endpoint, got {addresses}")
        return
    name = addresses[0].get("address", "").split(".")[0]
    service = svcs.get(name)
    if service is None or service["spec"].get("clusterIP") != "None":
        fail(f"envoy: endpoint {addresses[0].get('address')} is not the headless Service of deploy/k8s")
        return
    port = grpc_port(service)
    if port is None or addresses[0].get("port_value") != port.get("port"):
        fail(f"envoy: endpoint port {addresses[0].get('port_value')} is not {name}'s gRPC port")


def main():
    root = Path(sys.argv[1]).resolve()
    svcs = services(root)
    check_destination_rule(root, svcs)
    check_kustomize(root)
    check_envoy(root, svcs)
    for message in errors:
        print(f"FAIL: {message}")
    if errors:
        return 1
    print("ok: deploy/mesh: Istio DestinationRule and Envoy ring hash on fetchpool-pool-key")
    return 0


if __name__ == "__main__":
    sys.exit(main())
