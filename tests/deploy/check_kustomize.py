#!/usr/bin/env python3
"""ctest deploy_kustomize: the properties issue 13 asks of the manifests,
checked on the rendered base (deploy/k8s) and the rendered example overlay
(deploy/k8s/overlays/example), every YAML document parsed:

- Deployment: native grpc startup/readiness/liveness probes on 50051 and no
  other probe kind; no exec preStop (the image has no shell);
  terminationGracePeriodSeconds >= drain_delay + shutdown_grace + margin,
  read from the rendered ConfigMap's textproto; liveness tolerates a whole
  drain, readiness notices NOT_SERVING within drain_delay; spread over zones
  and nodes; non-root user 10001, seccomp RuntimeDefault, drop ALL,
  read-only root, no privilege escalation; the config directory mounted
  without subPath from the generated ConfigMap; no replicas (the HPA's);
- Services (ClusterIP with grpc + metrics, headless with grpc) selecting the
  pods; PodDisruptionBudget; HPA autoscaling/v2 on CPU, min >= 2;
- NetworkPolicy: ingress 50051 only from pods labelled
  fetchpool.dev/client=true in any namespace, 9464 only from the monitoring
  namespace; egress DNS (53 UDP+TCP) and 0.0.0.0/0 except 169.254.0.0/16 and
  the pod and service ranges (the overlay's: cluster-ranges.yaml);
- overlay only: namespace, image, sizing as the overlay sets them; the
  ServiceMonitor (port metrics, /metrics, selecting exactly the Service with
  the metrics port), the Grafana dashboard ConfigMap (label
  grafana_dashboard "1", valid JSON) and the PrometheusRule
  (components/alerts), whose spec is deploy/prometheus/fetchpool-rules.yaml
  itself, object for object.

Usage: check_kustomize.py REPO_ROOT
"""
import ipaddress
import json
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kustomize_render import BASE, OVERLAY, RenderError, finish, render  # noqa: E402

GRPC_PORT = 50051
METRICS_PORT = 9464
RUN_AS_USER = 10001  # deploy/Dockerfile's USER
# Time after drain_delay + shutdown_grace for closing idle upstream
# connections, the last log lines and the kubelet's delay before SIGKILL.
SHUTDOWN_MARGIN_S = 5
LINK_LOCAL = "169.254.0.0/16"
CLIENT_LABEL = ("fetchpool.dev/client", "true")
MONITORING_NAMESPACE = "monitoring"

errors = []


def fail(where, message):
    errors.append(f"{where}: {message}")


def find(objects, kind, name_pattern):
    for obj in objects:
        if obj.get("kind") == kind and re.fullmatch(name_pattern, obj["metadata"]["name"]):
            return obj
    return None


def find_required(where, objects, kind, api_version, hint=""):
    """The object KIND named fetchpoold, or None after reporting it missing
    or of another apiVersion."""
    obj = find(objects, kind, "fetchpoold")
    if not obj:
        fail(where, f"no {kind} fetchpoold{hint}")
    elif obj.get("apiVersion") != api_version:
        fail(where, f"{kind} should be {api_version}, got {obj.get('apiVersion')}")
    return obj


def selects(selector, labels):
    """Whether a matchLabels selector picks objects with `labels`."""
    match = (selector or {}).get("matchLabels") or {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def seconds(duration):
    """A config.proto duration ("250ms", "5s", "2m", "1h") in seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration or "")
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def textproto_field(text, field):
    m = re.search(rf'^{field}:\s*"([^"]*)"', text, re.M)
    return m.group(1) if m else None


def check_config(where, cm):
    """The shutdown timings of the ConfigMap's textproto, in seconds."""
    text = (cm.get("data") or {}).get("fetchpoold.textproto", "")
    if not text:
        fail(where, "ConfigMap fetchpoold-config has no fetchpoold.textproto")
        return None
    if textproto_field(text, "listen") != f"0.0.0.0:{GRPC_PORT}":
        fail(where, f'textproto: listen should be "0.0.0.0:{GRPC_PORT}"')
    if textproto_field(text, "metrics_listen") != f"0.0.0.0:{METRICS_PORT}":
        fail(where, f'textproto: metrics_listen should be "0.0.0.0:{METRICS_PORT}"')
    timings = {}
    for field in ("drain_delay", "shutdown_grace", "max_connection_age"):
        value = seconds(textproto_field(text, field))
        if value is None:
            fail(where, f"textproto: {field} is not set as a duration")
        timings[field] = value
    if timings.get("max_connection_age") == 0:
        fail(where, "textproto: max_connection_age must not be 0 (channels would never rebalance)")
    return timings


def check_probes(where, container, timings):
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(kind)
        if not probe:
            fail(where, f"no {kind}")
            continue
        grpc = probe.get("grpc") or {}
        if grpc.get("port") != GRPC_PORT or grpc.get("service", "") != "":
            fail(where, f"{kind} should be grpc: {{port: {GRPC_PORT}}} (health service \"\"), got {probe}")
        others = {"tcpSocket", "httpGet", "exec"} & probe.keys()
        if others:
            fail(where, f"{kind} has {sorted(others)} besides grpc")
    if not timings or None in (timings.get("drain_delay"), timings.get("shutdown_grace")):
        return
    drain = timings["drain_delay"] + timings["shutdown_grace"]
    live = container.get("livenessProbe") or {}
    live_window = live.get("periodSeconds", 10) * live.get("failureThreshold", 3)
    if live_window <= drain:
        fail(where, f"livenessProbe fails after {live_window}s of NOT_SERVING, within the "
                    f"{drain:g}s drain: a draining pod would be restarted")
    ready = container.get("readinessProbe") or {}
    ready_window = ready.get("periodSeconds", 10) * ready.get("failureThreshold", 3)
    if ready_window > timings["drain_delay"]:
        fail(where, f"readinessProbe needs {ready_window}s to see NOT_SERVING, longer than "
                    f"drain_delay {timings['drain_delay']:g}s")


def check_security(where, pod, container):
    pod_sc = pod.get("securityContext") or {}
    sc = container.get("securityContext") or {}
    if not (pod_sc.get("runAsNonRoot") or sc.get("runAsNonRoot")):
        fail(where, "runAsNonRoot is not true")
    if sc.get("runAsUser", pod_sc.get("runAsUser")) != RUN_AS_USER:
        fail(where, f"runAsUser should be {RUN_AS_USER} (the image's USER)")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp != "RuntimeDefault":
        fail(where, f"seccompProfile should be RuntimeDefault, got {seccomp}")
    if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
        fail(where, "capabilities.drop should be [ALL]")
    if sc.get("readOnlyRootFilesystem") is not True:
        fail(where, "readOnlyRootFilesystem should be true")
    if sc.get("allowPrivilegeEscalation") is not False:
        fail(where, "allowPrivilegeEscalation should be false")


def check_deployment(where, dep, cm, timings):
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels") or {}
    if "replicas" in spec:
        fail(where, "replicas is set: it would fight the HorizontalPodAutoscaler on every apply")
    if not selects(spec.get("selector"), labels):
        fail(where, "selector does not match the pod template labels")
    containers = {c["name"]: c for c in pod.get("containers", [])}
    container = containers.get("fetchpoold")
    if not container:
        fail(where, "no container fetchpoold")
        return labels
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
    if ports.get("grpc") != GRPC_PORT or ports.get("metrics") != METRICS_PORT:
        fail(where, f"container ports should be grpc {GRPC_PORT} and metrics {METRICS_PORT}, got {ports}")
    if "--config=/etc/fetchpool/fetchpoold.textproto" not in container.get("args", []):
        fail(where, "fetchpoold should get --config=/etc/fetchpool/fetchpoold.textproto")
    check_probes(where, container, timings)
    check_security(where, pod, container)
    if (container.get("lifecycle") or {}).get("preStop", {}).get("exec"):
        fail(where, "an exec preStop hook cannot run: the image has no shell or sleep")
    resources = container.get("resources") or {}
    if not (resources.get("requests") and resources.get("limits")):
        fail(where, "resources need requests and limits")

    grace = pod.get("terminationGracePeriodSeconds")
    if timings and None not in (timings.get("drain_delay"), timings.get("shutdown_grace")):
        need = timings["drain_delay"] + timings["shutdown_grace"] + SHUTDOWN_MARGIN_S
        if grace is None or grace < need:
            fail(where, f"terminationGracePeriodSeconds {grace} < drain_delay "
                        f"{timings['drain_delay']:g} + shutdown_grace {timings['shutdown_grace']:g} "
                        f"+ {SHUTDOWN_MARGIN_S}s margin")

    spread = {c.get("topologyKey"): c for c in pod.get("topologySpreadConstraints", [])}
    for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname"):
        if key not in spread:
            fail(where, f"no topologySpreadConstraint over {key}")
        elif not selects(spread[key].get("labelSelector"), labels):
            fail(where, f"the spread over {key} does not select the pods")

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = [m for m in container.get("volumeMounts", [])
              if (volumes.get(m["name"]) or {}).get("configMap")]
    if not any(m.get("mountPath") == "/etc/fetchpool" for m in mounts):
        fail(where, "the config ConfigMap is not mounted at /etc/fetchpool")
    for m in mounts:
        if m.get("subPath") or m.get("subPathExpr"):
            fail(where, f"ConfigMap mount {m['name']} uses subPath: it would never see updates")
        cm_name = volumes[m["name"]]["configMap"].get("name")
        if cm and cm_name != cm["metadata"]["name"]:
            fail(where, f"the config volume names ConfigMap {cm_name}, rendered is {cm['metadata']['name']}")
    return labels


def check_services(where, objects, pod_labels):
    svc = find(objects, "Service", "fetchpoold")
    headless = find(objects, "Service", "fetchpoold-headless")
    for s in (svc, headless):
        if s and not selects({"matchLabels": s["spec"].get("selector")}, pod_labels):
            fail(where, f"Service {s['metadata']['name']} does not select the pods")
    if svc:
        ports = {p.get("name"): p.get("port") for p in svc["spec"].get("ports", [])}
        if svc["spec"].get("type", "ClusterIP") != "ClusterIP":
            fail(where, "Service fetchpoold should be ClusterIP")
        if ports != {"grpc": GRPC_PORT, "metrics": METRICS_PORT}:
            fail(where, f"Service fetchpoold ports should be grpc/metrics, got {ports}")
    else:
        fail(where, "no Service fetchpoold")
    if headless:
        if headless["spec"].get("clusterIP") != "None":
            fail(where, "Service fetchpoold-headless needs clusterIP: None")
        if [p.get("port") for p in headless["spec"].get("ports", [])] != [GRPC_PORT]:
            fail(where, "Service fetchpoold-headless should carry the grpc port only")
    else:
        fail(where, "no Service fetchpoold-headless")


def check_pdb_hpa(where, objects, pod_labels):
    pdb = find_required(where, objects, "PodDisruptionBudget", "policy/v1")
    if pdb:
        if not selects(pdb["spec"].get("selector"), pod_labels):
            fail(where, "the PodDisruptionBudget does not select the pods")
        if not ({"maxUnavailable", "minAvailable"} & pdb["spec"].keys()):
            fail(where, "the PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
    hpa = find_required(where, objects, "HorizontalPodAutoscaler", "autoscaling/v2")
    if not hpa:
        return
    spec = hpa["spec"]
    target = spec.get("scaleTargetRef") or {}
    if (target.get("kind"), target.get("name")) != ("Deployment", "fetchpoold"):
        fail(where, f"the HPA scales {target}, not Deployment fetchpoold")
    if spec.get("minReplicas", 1) < 2:
        fail(where, "the HPA's minReplicas should be 2 or more (the PDB lets one go)")
    cpu = [m for m in spec.get("metrics", []) if m.get("type") == "Resource"
           and (m.get("resource") or {}).get("name") == "cpu"]
    if not cpu:
        fail(where, "the HPA has no CPU Resource metric")


def cidrs_of(rule):
    return [peer["ipBlock"] for peer in rule.get("to", []) if "ipBlock" in peer]


def port_set(rule):
    return {(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports", [])}


def check_ingress(where, spec):
    grpc_ok = metrics_ok = False
    for rule in spec.get("ingress", []):
        ports = port_set(rule)
        peers = rule.get("from", [])
        if not ports or not peers:
            fail(where, f"ingress rule without ports or peers admits too much: {rule}")
            continue
        if ports == {("TCP", GRPC_PORT)}:
            grpc_ok = all(p.get("namespaceSelector") == {}
                          and selects(p.get("podSelector"), dict([CLIENT_LABEL])) for p in peers)
            if not grpc_ok:
                fail(where, f"50051 should be open only to pods labelled "
                            f"{CLIENT_LABEL[0]}={CLIENT_LABEL[1]} in any namespace, got {peers}")
        elif ports == {("TCP", METRICS_PORT)}:
            metrics_ok = all("podSelector" not in p and "ipBlock" not in p and selects(
                p.get("namespaceSelector"), {"kubernetes.io/metadata.name": MONITORING_NAMESPACE})
                for p in peers)
            if not metrics_ok:
                fail(where, f"9464 should be open only to namespace {MONITORING_NAMESPACE}, got {peers}")
        else:
            fail(where, f"ingress rule opens other ports: {sorted(ports)}")
    if not grpc_ok or not metrics_ok:
        fail(where, "NetworkPolicy ingress needs one rule for 50051 and one for 9464")


def check_egress(where, spec, cluster_ranges):
    dns_ok = world_ok = False
    for rule in spec.get("egress", []):
        ports, blocks = port_set(rule), cidrs_of(rule)
        if not rule.get("to"):
            dns_ok = ports == {("UDP", 53), ("TCP", 53)}
            if not dns_ok:
                fail(where, f"egress rule to any address must be DNS only (53 UDP+TCP), got {sorted(ports)}")
            continue
        for block in blocks:
            except_ = block.get("except") or []
            try:
                network = ipaddress.ip_network(block["cidr"])
                excluded = [ipaddress.ip_network(c) for c in except_]
            except ValueError as e:
                fail(where, f"bad CIDR in {block}: {e}")
                continue
            if network.prefixlen == 0 and network.version == 6 and not except_:
                fail(where, "::/0 without exceptions would open the cluster's IPv6 ranges")
            if str(network) != "0.0.0.0/0":
                continue
            world_ok = True
            if LINK_LOCAL not in except_:
                fail(where, f"0.0.0.0/0 does not except {LINK_LOCAL} (cloud metadata)")
            cluster = [c for c in excluded if str(c) != LINK_LOCAL]
            if len(cluster) < 2 or not all(c.is_private for c in cluster):
                fail(where, f"0.0.0.0/0 should except the pod and service ranges, got {except_}")
            for name, cidr in cluster_ranges.items():
                if cidr not in except_:
                    fail(where, f"0.0.0.0/0 does not except the overlay's {name} {cidr}: {except_}")
    if not dns_ok:
        fail(where, "NetworkPolicy egress has no DNS rule (53 UDP+TCP)")
    if not world_ok:
        fail(where, "NetworkPolicy egress has no 0.0.0.0/0 ipBlock")


def check_network_policy(where, objects, pod_labels, cluster_ranges):
    np = find_required(where, objects, "NetworkPolicy", "networking.k8s.io/v1")
    if not np:
        return
    spec = np["spec"]
    if not selects(spec.get("podSelector"), pod_labels):
        fail(where, "the NetworkPolicy does not select the pods")
    if sorted(spec.get("policyTypes", [])) != ["Egress", "Ingress"]:
        fail(where, "the NetworkPolicy should have policyTypes Ingress and Egress")
    check_ingress(where, spec)
    check_egress(where, spec, cluster_ranges)


def check_service_monitor(where, objects):
    sm = find_required(where, objects, "ServiceMonitor", "monitoring.coreos.com/v1",
                       " (components/servicemonitor)")
    if not sm:
        return
    endpoints = sm["spec"].get("endpoints", [])
    if not any(e.get("port") == "metrics" and e.get("path") == "/metrics" for e in endpoints):
        fail(where, f"ServiceMonitor needs an endpoint port: metrics, path: /metrics, got {endpoints}")
    selector = sm["spec"].get("selector")
    picked = sorted(o["metadata"]["name"] for o in objects if o.get("kind") == "Service"
                    and selects(selector, o["metadata"].get("labels") or {}))
    with_metrics = sorted(o["metadata"]["name"] for o in objects if o.get("kind") == "Service"
                          and any(p.get("name") == "metrics" for p in o["spec"].get("ports", [])))
    if picked != with_metrics:
        fail(where, f"ServiceMonitor selects Services {picked}, the ones with a metrics port are {with_metrics}")
    ns_selector = sm["spec"].get("namespaceSelector")
    if ns_selector and sm["metadata"].get("namespace") not in ns_selector.get("matchNames", []):
        fail(where, "ServiceMonitor's namespaceSelector leaves out its own namespace")


def check_dashboard(where, objects):
    cm = find(objects, "ConfigMap", "fetchpool-dashboard")
    if not cm:
        fail(where, "no ConfigMap fetchpool-dashboard (components/dashboard)")
        return
    if (cm["metadata"].get("labels") or {}).get("grafana_dashboard") != "1":
        fail(where, 'dashboard ConfigMap lacks the label grafana_dashboard: "1"')
    data = cm.get("data") or {}
    if "fetchpool-dashboard.json" not in data:
        fail(where, "dashboard ConfigMap has no fetchpool-dashboard.json")
        return
    try:
        dashboard = json.loads(data["fetchpool-dashboard.json"])
    except ValueError as e:
        fail(where, f"fetchpool-dashboard.json is not JSON: {e}")
        return
    if not dashboard.get("panels"):
        fail(where, "fetchpool-dashboard.json has no panels")


def check_prometheus_rule(where, root, objects):
    rule = find(objects, "PrometheusRule", "fetchpoold")
    if not rule:
        fail(where, "no PrometheusRule fetchpoold (components/alerts)")
        return
    if rule.get("apiVersion") != "monitoring.coreos.com/v1":
        fail(where, f"PrometheusRule should be monitoring.coreos.com/v1, got {rule.get('apiVersion')}")
    if set(rule) != {"apiVersion", "kind", "metadata", "spec"}:
        fail(where, f"PrometheusRule has unexpected top-level fields {sorted(rule)}")
    rules_file = yaml.safe_load((root / "deploy/prometheus/fetchpool-rules.yaml").read_text())
    if rule.get("spec") != rules_file:
        fail(where, "the PrometheusRule's spec is not deploy/prometheus/fetchpool-rules.yaml: "
                    "run deploy/prometheus/gen_prometheusrule.py")
    alerts = [r["alert"] for g in rule["spec"].get("groups", []) for r in g.get("rules", [])
              if "alert" in r]
    print(f"{where}: PrometheusRule fetchpoold carries {len(alerts)} alerts: {' '.join(alerts)}")


def check_overlay_settings(where, root, objects):
    """What overlays/example sets: namespace, image, sizing, cluster ranges."""
    overlay_dir = root / OVERLAY
    kustomization = yaml.safe_load((overlay_dir / "kustomization.yaml").read_text())
    namespace = kustomization.get("namespace")
    if not namespace:
        fail(where, "the overlay sets no namespace")
    if not find(objects, "Namespace", re.escape(namespace or "")):
        fail(where, f"the overlay does not create Namespace {namespace}")
    for obj in objects:
        if obj["kind"] != "Namespace" and obj["metadata"].get("namespace") != namespace:
            fail(where, f"{obj['kind']} {obj['metadata']['name']} is not in namespace {namespace}")
        if (obj["metadata"].get("annotations") or {}).get("config.kubernetes.io/local-config"):
            fail(where, f"local-config {obj['kind']} {obj['metadata']['name']} leaked into the output")
    image = next(i for i in kustomization.get("images", []) if i.get("name") == "fetchpoold")
    want_image = f"{image['newName']}:{image['newTag']}"
    dep = find(objects, "Deployment", "fetchpoold")
    container = dep["spec"]["template"]["spec"]["containers"][0] if dep else {}
    if container.get("image") != want_image:
        fail(where, f"image should be {want_image}, got {container.get('image')}")
    patch = yaml.safe_load((overlay_dir / "resources.yaml").read_text())
    want_resources = patch["spec"]["template"]["spec"]["containers"][0]["resources"]
    if container.get("resources") != want_resources:
        fail(where, f"resources should be the overlay's {want_resources}, got {container.get('resources')}")
    ranges = yaml.safe_load((overlay_dir / "cluster-ranges.yaml").read_text())["data"]
    return {"pod range": ranges["podCIDR"], "service range": ranges["serviceCIDR"]}


def check_rendering(root, relative):
    where = relative
    try:
        objects = render(root / relative)
    except RenderError as e:
        fail(where, str(e))
        return
    overlay = relative == OVERLAY
    cluster_ranges = check_overlay_settings(where, root, objects) if overlay else {}
    cm = find(objects, "ConfigMap", r"fetchpoold-config-[a-z0-9]+")
    if not cm:
        fail(where, "no ConfigMap fetchpoold-config-<hash> (configMapGenerator)")
    timings = check_config(where, cm) if cm else None
    dep = find(objects, "Deployment", "fetchpoold")
    pod_labels = check_deployment(where, dep, cm, timings) if dep else {}
    if not dep:
        fail(where, "no Deployment fetchpoold")
    check_services(where, objects, pod_labels)
    check_pdb_hpa(where, objects, pod_labels)
    check_network_policy(where, objects, pod_labels, cluster_ranges)
    if overlay:
        check_service_monitor(where, objects)
        check_dashboard(where, objects)
        check_prometheus_rule(where, root, objects)
    elif find(objects, "ServiceMonitor", ".*") or find(objects, "PrometheusRule", ".*"):
        fail(where, "the base must not need the Prometheus Operator's CRDs (optional components)")
    kinds = sorted(o["kind"] for o in objects)
    print(f"{relative}: {len(objects)} objects: {' '.join(kinds)}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_kustomize.py REPO_ROOT")
    root = Path(sys.argv[1]).resolve()
    hpa_source = (root / "deploy/k8s/base/hpa.yaml").read_text()
    if "fetchpool_wait_queue_length" not in hpa_source:
        fail("deploy/k8s/base/hpa.yaml", "no comment on scaling on fetchpool_wait_queue_length")
    for relative in (BASE, OVERLAY):
        check_rendering(root, relative)
    finish(errors, "the base and the example overlay have every property issue 13 asks")


if __name__ == "__main__":
    main()
