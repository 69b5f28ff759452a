#!/usr/bin/env python3
"""deploy/kubernetes, validated offline (docs/kubernetes.md, "Validation").

1. Each overlay is rendered: `kubectl kustomize` where kubectl is installed,
   and always by the limited renderer below (resources, namespace, images,
   replicas — the only kustomization fields these files use; anything else
   is refused). Where both ran their output must be the same objects.
2. Every rendered object is validated: the core kinds with
   kubernetes-validate's strict schemas (unknown fields are errors) for each
   Kubernetes version in KUBERNETES_VERSIONS; the operators' kinds against
   their schemas vendored in deploy/kubernetes/schemas (unknown fields are
   errors there too).
3. Rules of this platform: every service Deployment has >= 2 replicas, a
   PodDisruptionBudget and a Service (the console: exactly 1 replica, its
   sessions being in memory, and a Service), readiness on /readyz, liveness on
   /healthz, a startup probe, requests and limits, a grace period above the
   services' 30 s stop plus the preStop pause, a non-root read-only
   container; every ConfigMap/Secret key read exists (Secrets: in
   secrets.example.yaml); every SCIM_* variable is one docs/operations.md
   or docs/console.md documents; the databases are deploy/postgres-init.sql's; PostgreSQL's
   max_connections covers every replica's pool; every kustomization lists
   every manifest beside it.
4. Broken variants of the manifests must each be rejected — the proof that
   this validator can fail.

Exits 1 and says what is wrong when anything fails.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import kubernetes_validate
import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
KUBE = os.path.join(ROOT, "deploy", "kubernetes")
OVERLAYS = ["overlays/external", "overlays/with-operators"]
# The oldest Kubernetes the manifests are for, and the newest schemas the
# installed kubernetes-validate has.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "replicas"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
# Connections a replica opens beyond SCIM_DATABASE__MAX_CONNECTIONS: the
# gateway's relay marks (2) and lease (1), licensing's relay lease (1), and
# at start each process's migration lock (1) (docs/operations.md).
EXTRA_CONNECTIONS = {"scim-gateway": 4, "identity": 1, "team": 1, "licensing": 2}
PRESTOP_PAUSE_SECS = 5


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ---------------------------------------------------------------- rendering


def render_limited(folder):
    """The kustomization in `folder` rendered with the few fields it may use."""
    kustomization = load_yaml_docs(os.path.join(folder, "kustomization.yaml"))[0]
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    if unknown:
        raise ValueError(f"{folder}: kustomization fields the limited renderer does not know: {sorted(unknown)}")
    objects = []
    for resource in kustomization.get("resources", []):
        path = os.path.normpath(os.path.join(folder, resource))
        objects += render_limited(path) if os.path.isdir(path) else load_yaml_docs(path)
    for obj in objects:
        if "namespace" in kustomization and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = kustomization["namespace"]
        for container in pod_containers(obj):
            for image in kustomization.get("images", []):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    new = image.get("newName", name)
                    tag = image.get("newTag", tag)
                    container["image"] = f"{new}:{tag}" if tag else new
        for replicas in kustomization.get("replicas", []):
            if obj["kind"] == "Deployment" and obj["metadata"]["name"] == replicas["name"]:
                obj["spec"]["replicas"] = replicas["count"]
    return objects


def render_kubectl(folder):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    out = subprocess.run([kubectl, "kustomize", folder], capture_output=True, text=True)
    if out.returncode != 0:
        raise ValueError(f"{folder}: kubectl kustomize failed (kubectl 1.21 or later needed): {out.stderr.strip()}")
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


def identity(obj):
    return (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])


def render(folder, errors):
    """The overlay's objects, and which renderers agreed on them."""
    limited = render_limited(folder)
    kubectl = render_kubectl(folder)
    if kubectl is None:
        return limited, "limited renderer (no kubectl)"
    by_id = lambda objs: {identity(o): json.dumps(o, sort_keys=True) for o in objs}
    mine, theirs = by_id(limited), by_id(kubectl)
    for key in sorted(set(mine) | set(theirs), key=str):
        if mine.get(key) != theirs.get(key):
            errors.append(f"{folder}: kubectl kustomize and the limited renderer differ on {key}")
    return kubectl, "kubectl kustomize = limited renderer"


# --------------------------------------------------------------- schemas


def strict(schema):
    """The schema with unknown properties refused, as apply's strict field
    validation refuses fields a CRD does not declare."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def vendored_schemas():
    schemas = {}
    folder = os.path.join(KUBE, "schemas")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".yaml"):
            doc = load_yaml_docs(os.path.join(folder, name))[0]
            jsonschema.Draft7Validator.check_schema(doc["schema"])
            schemas[(f"{doc['group']}/{doc['version']}", doc["kind"])] = strict(doc["schema"])
    return schemas


# The forms of CEL rule the vendored schemas hold that can be checked
# without the previous object; `self == oldSelf` (immutability) cannot.
CEL_NOT_EQUAL = re.compile(r"^self != '([^']*)'$")
CEL_ONLY_WITH = re.compile(r"^!has\(self\.(\w+)\) \|\| self\.(\w+) == '([^']*)'$")


def check_cel(node, value, where, errors):
    if isinstance(node, dict):
        for rule in node.get("x-kubernetes-validations", []):
            text = rule["rule"]
            if m := CEL_NOT_EQUAL.match(text):
                if value == m.group(1):
                    errors.append(f"{where}: {rule['message']}")
            elif m := CEL_ONLY_WITH.match(text):
                if isinstance(value, dict) and m.group(1) in value and value.get(m.group(2)) != m.group(3):
                    errors.append(f"{where}: {rule['message']}")
        if isinstance(value, dict):
            for key, child in node.get("properties", {}).items():
                if key in value:
                    check_cel(child, value[key], f"{where}.{key}", errors)
        if isinstance(value, list) and "items" in node:
            for i, item in enumerate(value):
                check_cel(node["items"], item, f"{where}[{i}]", errors)


def validate_schemas(objects, schemas, versions, label, errors):
    for obj in objects:
        where = f"{label}: {obj['kind']}/{obj['metadata']['name']}"
        schema = schemas.get((obj["apiVersion"], obj["kind"]))
        if schema is not None:
            for error in jsonschema.Draft7Validator(schema).iter_errors(obj):
                path = ".".join(str(p) for p in error.absolute_path)
                errors.append(f"{where} (vendored schema): {path}: {error.message}")
            check_cel(schema, obj, where, errors)
        elif "." in obj["apiVersion"].split("/")[0] and not obj["apiVersion"].split("/")[0].endswith("k8s.io"):
            errors.append(f"{where}: no vendored schema for {obj['apiVersion']} {obj['kind']}")
        else:
            for version in versions:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    path = ".".join(str(p) for p in e.path)
                    errors.append(f"{where} (Kubernetes {version}): {path}: {e.message}")
                except kubernetes_validate.SchemaNotFoundError as e:
                    errors.append(f"{where}: {e}")


# ------------------------------------------------------------------ rules


def pod_spec(obj):
    return obj.get("spec", {}).get("template", {}).get("spec") if obj["kind"] == "Deployment" else None


def pod_containers(obj):
    spec = pod_spec(obj) or {}
    return spec.get("initContainers", []) + spec.get("containers", [])


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def stop_within_secs():
    text = open(os.path.join(ROOT, "crates/service-kit/src/shutdown.rs")).read()
    return int(re.search(r"STOP_WITHIN: Duration = Duration::from_secs\((\d+)\)", text).group(1))


def documented_variables():
    text = "".join(open(os.path.join(ROOT, doc)).read() for doc in ("docs/operations.md", "docs/console.md"))
    return set(re.findall(r"\b(SCIM_[A-Z0-9_]+)\b", text))


def check_deployment(dep, objects, label, errors):
    where = f"{label}: Deployment/{dep['metadata']['name']}"
    spec, pod = dep["spec"], pod_spec(dep)
    labels = spec["template"]["metadata"]["labels"]
    console = labels.get("app.kubernetes.io/component") == "console"
    if console and spec.get("replicas", 1) != 1:
        errors.append(f"{where}: the console keeps its sessions in memory: exactly 1 replica")
    if not console and spec.get("replicas", 1) < 2:
        errors.append(f"{where}: fewer than 2 replicas")
    kinds = {o["kind"] for o in objects if o["kind"] in ("PodDisruptionBudget", "Service")
             and selects(o["spec"].get("selector", {}).get("matchLabels", o["spec"].get("selector", {})), labels)}
    for kind in ("Service",) if console else ("PodDisruptionBudget", "Service"):
        if kind not in kinds:
            errors.append(f"{where}: no {kind} selects its pods")
    if pod.get("terminationGracePeriodSeconds", 30) <= stop_within_secs() + PRESTOP_PAUSE_SECS:
        errors.append(f"{where}: terminationGracePeriodSeconds must exceed the {stop_within_secs()} s stop "
                      f"plus the {PRESTOP_PAUSE_SECS} s preStop pause")
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        errors.append(f"{where}: the pod does not run as non-root")
    for container in pod_containers(dep):
        cw = f"{where} container {container['name']}"
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(resources.get(part, {})):
                errors.append(f"{cw}: {part} must name cpu and memory")
        context = container.get("securityContext", {})
        if not context.get("readOnlyRootFilesystem") or context.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{cw}: needs readOnlyRootFilesystem and no privilege escalation")
    main = pod["containers"][0]
    ports = {p.get("name") for p in main.get("ports", [])} | {p["containerPort"] for p in main.get("ports", [])}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")):
        get = main.get(probe, {}).get("httpGet", {})
        if get.get("path") != path:
            errors.append(f"{where}: {probe} must GET {path}")
        elif get.get("port") not in ports:
            errors.append(f"{where}: {probe} port {get.get('port')} is none of the container's")


def check_references(objects, secrets, label, errors):
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    documented = documented_variables()
    for dep in (o for o in objects if o["kind"] == "Deployment"):
        where = f"{label}: Deployment/{dep['metadata']['name']}"
        for container in pod_containers(dep):
            names = [e["name"] for e in container.get("env", [])]
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef") or source.get("secretRef")
                store = config_maps if "configMapRef" in source else secrets
                if ref["name"] not in store:
                    errors.append(f"{where}: envFrom names no known ConfigMap/Secret {ref['name']}")
                names += list(store.get(ref["name"], {}))
            for env in container.get("env", []):
                for kind, store in (("configMapKeyRef", config_maps), ("secretKeyRef", secrets)):
                    ref = env.get("valueFrom", {}).get(kind)
                    if ref and ref["key"] not in store.get(ref["name"], {}):
                        errors.append(f"{where}: {env['name']} reads {ref['name']}/{ref['key']}, which does not exist")
            for name in names:
                if name.startswith("SCIM_") and name not in documented:
                    errors.append(f"{where}: {name} is no setting docs/operations.md documents (a typo is ignored silently)")
        for volume in pod_spec(dep).get("volumes", []):
            if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
                errors.append(f"{where}: volume {volume['name']} names no ConfigMap")
    for svc in (o for o in objects if o["kind"] == "Service"):
        pods = [d for d in objects if d["kind"] == "Deployment"
                and selects(svc["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        if not pods:
            errors.append(f"{label}: Service/{svc['metadata']['name']} selects no pods")
        for port in svc["spec"]["ports"]:
            names = {p.get("name") for d in pods for c in pod_containers(d) for p in c.get("ports", [])}
            if port.get("targetPort") not in names:
                errors.append(f"{label}: Service/{svc['metadata']['name']} targets port {port.get('targetPort')}, which no pod names")
    common = config_maps.get("scim-common", {})
    endpoint = re.match(r"http://([^:/]+):(\d+)$", common.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""))
    collector = [o for o in objects if o["kind"] == "Service" and endpoint and o["metadata"]["name"] == endpoint.group(1)]
    if not collector or int(endpoint.group(2)) not in [p["port"] for p in collector[0]["spec"]["ports"]]:
        errors.append(f"{label}: OTEL_EXPORTER_OTLP_ENDPOINT names no collector Service port")
    if "otel-collector" in config_maps:
        check_collector(yaml.safe_load(config_maps["otel-collector"]["config.yaml"]), label, errors)


def check_collector(config, label, errors):
    compose = yaml.safe_load(open(os.path.join(ROOT, "deploy/otel-collector.yaml")))
    if config.get("receivers") != compose.get("receivers"):
        errors.append(f"{label}: the collector's receivers differ from deploy/otel-collector.yaml's (the services send there)")
    for name, pipeline in config["service"]["pipelines"].items():
        for part in ("receivers", "processors", "exporters"):
            for component in pipeline.get(part, []):
                if component not in config.get(part, {}):
                    errors.append(f"{label}: collector pipeline {name} uses {part[:-1]} {component}, which is not configured")
    for extension in config["service"].get("extensions", []):
        if extension not in config.get("extensions", {}):
            errors.append(f"{label}: collector extension {extension} is not configured")


def check_stores(objects, secrets, label, errors):
    clusters = [o for o in objects if o["kind"] == "Cluster"]
    if not clusters:
        return
    wanted = set(re.findall(r"CREATE DATABASE (\w+);", open(os.path.join(ROOT, "deploy/postgres-init.sql")).read()))
    made = {c["spec"].get("bootstrap", {}).get("initdb", {}).get("database", "app") for c in clusters}
    made |= {d["spec"]["name"] for d in objects if d["kind"] == "Database"}
    if made != wanted:
        errors.append(f"{label}: PostgreSQL databases {sorted(made)} are not deploy/postgres-init.sql's {sorted(wanted)}")
    cluster_names = {c["metadata"]["name"] for c in clusters}
    for db in (o for o in objects if o["kind"] == "Database"):
        if db["spec"]["cluster"]["name"] not in cluster_names:
            errors.append(f"{label}: Database/{db['metadata']['name']} names no Cluster")
    hosts = {f"{n}-rw" for n in cluster_names}
    for key, url in secrets.get("scim-database-urls", {}).items():
        if urlparts(url)[0] not in hosts:
            errors.append(f"{label}: scim-database-urls/{key} points at none of {sorted(hosts)}")
    rabbits = {o["metadata"]["name"] for o in objects if o["kind"] == "RabbitmqCluster"}
    if urlparts(secrets.get("scim-amqp", {}).get("url", ""))[0] not in rabbits:
        errors.append(f"{label}: scim-amqp/url points at no RabbitmqCluster")
    pools = {o["metadata"]["name"]: int(o["data"]["SCIM_DATABASE__MAX_CONNECTIONS"])
             for o in objects if o["kind"] == "ConfigMap" and "SCIM_DATABASE__MAX_CONNECTIONS" in o.get("data", {})}
    need = sum(d["spec"].get("replicas", 1) * (pools.get(d["metadata"]["name"], 0) + EXTRA_CONNECTIONS.get(d["metadata"]["name"], 0))
               for d in objects if d["kind"] == "Deployment")
    for cluster in clusters:
        have = int(cluster["spec"].get("postgresql", {}).get("parameters", {}).get("max_connections", "100"))
        if have < need + 10:
            errors.append(f"{label}: Cluster/{cluster['metadata']['name']} max_connections {have} is under the "
                          f"{need} the replicas' pools open (+10 for the operator and superuser)")


def urlparts(url):
    m = re.match(r"^\w+://(?:[^@/]*@)?([^:/]+)(?::\d+)?/", url)
    return (m.group(1),) if m else ("",)


def check_kustomizations(kube, errors):
    for folder, _, files in os.walk(kube):
        if "kustomization.yaml" not in files:
            continue
        listed = load_yaml_docs(os.path.join(folder, "kustomization.yaml"))[0].get("resources", [])
        rel = os.path.relpath(folder, kube)
        for resource in listed:
            if not os.path.exists(os.path.join(folder, resource)):
                errors.append(f"{rel}/kustomization.yaml lists {resource}, which does not exist")
        for name in files:
            if name.endswith(".yaml") and name != "kustomization.yaml" and name not in listed:
                errors.append(f"{rel}/{name} is in no kustomization: it would never be applied")


def validate_tree(kube, secret_docs, schemas, versions):
    """Every error of the tree at `kube`, and a line per overlay."""
    errors, lines = [], []
    check_kustomizations(kube, errors)
    secrets = {s["metadata"]["name"]: s.get("stringData", {}) for s in secret_docs}
    validate_schemas(secret_docs, schemas, versions, "secrets.example.yaml", errors)
    for overlay in OVERLAYS:
        objects, how = render(os.path.join(kube, overlay), errors)
        validate_schemas(objects, schemas, versions, overlay, errors)
        for dep in objects:
            if dep["kind"] == "Deployment" and dep["spec"]["template"]["metadata"]["labels"].get(
                    "app.kubernetes.io/component") in ("scim-service", "console"):
                check_deployment(dep, objects, overlay, errors)
        check_references(objects, secrets, overlay, errors)
        check_stores(objects, secrets, overlay, errors)
        lines.append(f"{overlay}: {len(objects)} objects ({how})")
    return errors, lines


# ------------------------------------------------------- broken variants


def edit(path, old, new):
    def apply(kube):
        file = os.path.join(kube, path)
        text = open(file).read()
        if old not in text:
            raise AssertionError(f"broken variant: {old!r} is not in {path}")
        open(file, "w").write(text.replace(old, new, 1))
    return apply


def drop_last_document(path):
    def apply(kube):
        file = os.path.join(kube, path)
        text = open(file).read()
        open(file, "w").write(text[: text.rindex("\n---\n") + 1])
    return apply


def add_file(path, text):
    def apply(kube):
        open(os.path.join(kube, path), "w").write(text)
    return apply


# (what is broken, how, a piece of the error it must cause)
BROKEN = [
    ("a misspelt field of a Deployment", edit("base/gateway.yaml", "readinessProbe:", "readinessProbes:"), "(Kubernetes"),
    ("a RabbitmqCluster's replicas as text", edit("stores/rabbitmq.yaml", "replicas: 3", 'replicas: "three"'), "(vendored schema)"),
    ("a misspelt field of a CNPG Cluster", edit("stores/postgres.yaml", "instances: 2", "instancez: 2"), "(vendored schema)"),
    ("a Database without its owner", edit("stores/postgres.yaml", "\n  owner: scim\n", "\n"), "'owner' is a required property"),
    ("a Database named postgres", edit("stores/postgres.yaml", "name: identity", "name: postgres"), "the name postgres is reserved"),
    ("readiness on /healthz", edit("base/identity.yaml", "path: /readyz", "path: /healthz"), "readinessProbe must GET /readyz"),
    ("a SCIM_ variable with one underscore", edit("base/config.yaml", "SCIM_AMQP__PREFETCH", "SCIM_AMQP_PREFETCH"), "docs/operations.md documents"),
    ("a Secret key nobody creates", edit("base/gateway.yaml", "key: key-encryption-key", "key: kek"), "does not exist"),
    ("a grace period within the 30 s stop", edit("base/team.yaml", "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 30"), "terminationGracePeriodSeconds must exceed"),
    ("one replica", edit("base/licensing.yaml", "replicas: 2", "replicas: 1"), "fewer than 2 replicas"),
    ("no PodDisruptionBudget", drop_last_document("base/team.yaml"), "no PodDisruptionBudget"),
    ("two console replicas", edit("base/console.yaml", "replicas: 1", "replicas: 2"), "exactly 1 replica"),
    ("the console without its Service", drop_last_document("base/console.yaml"), "no Service selects"),
    ("a console setting misspelt", edit("base/config.yaml", "SCIM_CONSOLE__TEAM_URL", "SCIM_CONSOLE_TEAM_URL"), "documents"),
    ("a writable root filesystem", edit("base/licensing.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"), "readOnlyRootFilesystem"),
    ("too few PostgreSQL connections", edit("stores/postgres.yaml", 'max_connections: "200"', 'max_connections: "50"'), "max_connections"),
    ("a manifest in no kustomization", add_file("base/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"), "is in no kustomization"),
    ("a kustomization field the renderer does not know", edit("overlays/external/kustomization.yaml", "resources:", "patches: []\nresources:"), "does not know"),
    ("a collector receiving on another port", edit("base/otel-collector.yaml", "endpoint: 0.0.0.0:4318", "endpoint: 0.0.0.0:4319"), "receivers differ"),
    ("a collector pipeline without its exporter", edit("base/otel-collector.yaml", "exporters: [debug]", "exporters: [otlp/jaeger]"), "is not configured"),
]


def main():
    schemas = vendored_schemas()
    secrets = load_yaml_docs(os.path.join(KUBE, "secrets.example.yaml"))
    errors, lines = validate_tree(KUBE, secrets, schemas, KUBERNETES_VERSIONS)
    for line in lines:
        print(f"kubernetes: {line}")
    if errors:
        print("\n".join(f"kubernetes: ERROR {e}" for e in errors), file=sys.stderr)
        return 1
    let_through = []
    for what, breaks, expected in BROKEN:
        with tempfile.TemporaryDirectory() as tmp:
            kube = os.path.join(tmp, "kubernetes")
            shutil.copytree(KUBE, kube)
            breaks(kube)
            try:
                # One Kubernetes version is enough to see a variant rejected.
                secrets = load_yaml_docs(os.path.join(kube, "secrets.example.yaml"))
                found, _ = validate_tree(kube, secrets, schemas, KUBERNETES_VERSIONS[:1])
            except ValueError as e:
                found = [str(e)]
            if not any(expected in e for e in found):
                let_through.append(f"{what}: expected an error with {expected!r}, got {found[:3]}")
    if let_through:
        print("\n".join(f"kubernetes: the validator let through {e}" for e in let_through), file=sys.stderr)
        return 1
    print(f"kubernetes: valid (core kinds: Kubernetes {', '.join(KUBERNETES_VERSIONS)} strict schemas; "
          f"{len(schemas)} operator kinds: vendored schemas); {len(BROKEN)} broken variants all rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
