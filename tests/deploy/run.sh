#!/usr/bin/env bash
# tests/deploy/run.sh: the deployment artefacts checked with the real tools (tests/run.sh deploy).
#
#   tests/deploy/run.sh                 every step
#   DEPLOY_LIVE=0 tests/deploy/run.sh   skip the live step (no server, no Prometheus)
#
# Steps (docs/operations.md, "What is verified"):
#   tools       kubectl, promtool, prometheus and the Python modules are there
#   k8s-schema  kubectl kustomize k8s/base, k8s/overlays/scale-out, k8s/overlays/production,
#               k8s/seccomp, k8s/monitoring
#               -> ../shared/tools/k8s_schema.py check (0 errors; DaemonSet checked as a Deployment)
#               plus a negative control: a manifest with an unknown field must be rejected
#   k8s-policy  tests/deploy/check_manifests.py: cross-object contracts, probes vs drain, security,
#               ConfigMap values accepted by build/ringroom itself; base 1 replica, no HPA;
#               replicas > 1 or an HPA only with RINGROOM_REDIS and a Redis (AOF) in the render
#   alerts      promtool check rules + promtool test rules
#   prom-config promtool check config on k8s/monitoring/prometheus.yml (k8s SD swapped for static:
#               Debian's Prometheus is built without Kubernetes discovery)
#   dashboards  dashboards/generate.py --check; check_dashboards.py (schema, ids, PromQL syntax);
#               Grafana provisioning files
#   dockerfile  tests/deploy/check_dockerfile.py --run (lint + the build stage run on this host);
#               `podman build` only when a debian:bookworm image is present locally
#   image-run   tests/deploy/scratch_image.py: always, offline, on a fresh machine: an image FROM scratch
#               (build/ringroom + exactly its ldd libraries + loader, passwd with 10001, data dir,
#               web/) built with `podman build --storage-driver vfs --network none` in a private
#               temp storage, then `podman run --runtime runc --ulimit nofile=20000:20000
#               --security-opt seccomp=k8s/seccomp/ringroom.json --network host` (--version,
#               /health); if no podman run variant works here, each error is printed and the
#               image's own filesystem runs in a chroot as uid 10001 under the profile instead
#   seccomp     tests/deploy/check_seccomp.py: ringroom under k8s/seccomp/ringroom.json works;
#               without io_uring it exits with a clear EPERM error
#   live        tests/deploy/live.py: ringroom under traffic, promtool check metrics, histogram
#               checks, Prometheus (1s scrapes) + check_dashboards.py --prom, every panel expr
#               listed with its number of series (0 fails), adapter query, alerts
# Ends with "deploy: N passed, M failed"; exit 1 if any step failed.
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."

PY=/usr/bin/python3
TOOLS=../shared/tools
BIN=${RINGROOM_BIN:-build/ringroom}
T=$(mktemp -d /tmp/ringroom-deploy-XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p tests/artifacts/logs
passed=0 failed=0 skipped=0 failed_steps=()

step() {
    local name=$1
    shift
    printf -- '--- %s\n' "$name"
    "$@"
    local rc=$?
    if [[ $rc -eq 0 ]]; then
        passed=$((passed + 1))
        printf 'ok   %s\n' "$name"
    elif [[ $rc -eq 77 ]]; then
        skipped=$((skipped + 1))
        printf 'skip %s\n' "$name"
    else
        failed=$((failed + 1))
        failed_steps+=("$name")
        printf 'FAIL %s\n' "$name"
    fi
}

# run CMD... and fail if it exits non-zero; with a time bound
t() { timeout --kill-after=10 "${STEP_TIMEOUT:-300}" "$@"; }

tools() {
    local ok=0 c
    for c in kubectl promtool prometheus readelf; do
        command -v "$c" >/dev/null || { echo "missing command $c (./build.sh deps --test)"; ok=1; }
    done
    $PY -c 'import jsonschema, yaml, websockets, seccomp' || { echo "missing Python modules (python3-jsonschema python3-yaml python3-websockets python3-seccomp)"; ok=1; }
    [[ -x $BIN ]] || { echo "$BIN not built (./build.sh build)"; ok=1; }
    [[ -r $TOOLS/k8s_schema.py && -r $TOOLS/check_dashboards.py ]] || { echo "$TOOLS missing"; ok=1; }
    return $ok
}

schema() {
    local f=$1 out
    out=$(t $PY $TOOLS/k8s_schema.py check $TOOLS/k8s-v1.29-schemas.json "$f" 2>&1)
    local rc=$?
    echo "$(basename "$f"): $out" | tail -20
    [[ $rc -eq 0 && $out == *" 0 errors" ]]
}

k8s_schema() {
    local ok=0 k
    for k in base overlays/scale-out overlays/production seccomp monitoring; do
        local name=${k##*/}
        t kubectl kustomize "k8s/$k" >"$T/$name.yaml" || { echo "kubectl kustomize k8s/$k failed"; ok=1; continue; }
    done
    [[ $ok -eq 0 ]] || return 1
    t $PY tests/deploy/daemonset_as_deployment.py "$T/seccomp.yaml" "$T/seccomp-checkable.yaml" || return 1
    for f in base scale-out production seccomp-checkable monitoring; do
        schema "$T/$f.yaml" || ok=1
    done
    # negative control: the checker must reject an unknown field and a removed API
    cat >"$T/negative.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: wrong}
spec:
  replica: 3
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: removed}
spec: {maxUnavailable: 1}
EOF
    local neg
    neg=$(t $PY $TOOLS/k8s_schema.py check $TOOLS/k8s-v1.29-schemas.json "$T/negative.yaml" 2>&1)
    if [[ $neg == *"2 objects, 2 errors"* ]]; then
        echo "negative control rejected as expected: $(echo "$neg" | head -2 | tr '\n' ' ')"
    else
        echo "negative control NOT rejected as expected: $neg"
        ok=1
    fi
    return $ok
}

k8s_policy() {
    t $PY tests/deploy/check_manifests.py --bin "$BIN" --adapter k8s/monitoring/prometheus-adapter-rules.yaml \
        --seccomp "$T/seccomp.yaml" --base "$T/base.yaml" --production "$T/production.yaml" \
        "$T/base.yaml" "$T/scale-out.yaml" "$T/production.yaml"
}

alerts() {
    t promtool check rules alerts/ringroom.rules.yml && t promtool test rules alerts/ringroom.rules.test.yml
}

prom_config() {
    mkdir -p "$T/promcfg"
    cp alerts/ringroom.rules.yml "$T/promcfg/"
    $PY - "$T/promcfg/prometheus.yml" <<'EOF' || return 1
import sys, yaml
c = yaml.safe_load(open("k8s/monitoring/prometheus.yml"))
jobs = [j["job_name"] for j in c["scrape_configs"]]
assert "ringroom" in jobs, f"no scrape job named ringroom: {jobs}"
for j in c["scrape_configs"]:
    assert j.pop("kubernetes_sd_configs", None), f"{j['job_name']}: expected kubernetes_sd_configs"
    j["static_configs"] = [{"targets": ["127.0.0.1:8080"]}]
    tl = [r.get("target_label") for r in j.get("relabel_configs", [])]
    assert {"namespace", "pod"} <= set(tl), f"relabelling must add namespace and pod (prometheus-adapter): {tl}"
yaml.safe_dump(c, open(sys.argv[1], "w"))
EOF
    t promtool check config "$T/promcfg/prometheus.yml"
}

dashboards() {
    t $PY dashboards/generate.py --check || return 1
    t $PY $TOOLS/check_dashboards.py --schema $TOOLS/dashboard.schema.json --var datasource=prom dashboards/*.json || return 1
    $PY - <<'EOF'
import glob, json, yaml
ds = yaml.safe_load(open("dashboards/provisioning/datasources/prometheus.yaml"))
assert ds["apiVersion"] == 1 and any(d["type"] == "prometheus" for d in ds["datasources"]), ds
pv = yaml.safe_load(open("dashboards/provisioning/dashboards/ringroom.yaml"))
assert pv["apiVersion"] == 1 and pv["providers"][0]["type"] == "file" and pv["providers"][0]["options"]["path"], pv
for f in glob.glob("dashboards/*.json"):
    d = json.load(open(f))
    v = [x for x in d["templating"]["list"] if x["name"] == "datasource"]
    assert v and v[0]["type"] == "datasource" and v[0]["query"] == "prometheus", f"{f}: no Prometheus datasource variable"
    for p in d["panels"]:
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", f"{f}: panel {p['title']} not on $datasource"
print("provisioning files and datasource variables ok")
EOF
}

dockerfile() {
    STEP_TIMEOUT=900 t $PY tests/deploy/check_dockerfile.py --run || return 1
    local img=""
    for i in debian:bookworm docker.io/library/debian:bookworm; do
        podman image exists "$i" 2>/dev/null && img=$i && break
    done
    if [[ -z $img ]]; then
        echo "SKIP podman build: no debian:bookworm image in local storage (no registry but Debian's is reachable);"
        echo "     the lint and the build stage's RUN above passed; the image's runtime half is step image-run"
        return 0
    fi
    # chroot isolation: needs no OCI runtime (crun cannot run containers on these machines);
    # no layer cache, so nothing but the tagged image is left, and it is removed afterwards
    echo "podman build with local $img"
    local tag=localhost/ringroom:deploy-test rc=0
    STEP_TIMEOUT=1800 t podman build --isolation chroot --layers=false --format docker --build-arg BASE="$img" \
        --build-arg VERSION=deploy-test -t $tag . >"tests/artifacts/logs/deploy-podman-build.log" 2>&1 || {
        tail -40 tests/artifacts/logs/deploy-podman-build.log
        return 1
    }
    tail -3 tests/artifacts/logs/deploy-podman-build.log
    t $PY tests/deploy/check_image.py $tag || rc=1
    podman rmi $tag >/dev/null 2>&1
    return $rc
}

image_run() {
    STEP_TIMEOUT=600 t $PY tests/deploy/scratch_image.py --bin "$BIN" --profile k8s/seccomp/ringroom.json
}

seccomp_profile() {
    t $PY tests/deploy/check_seccomp.py k8s/seccomp/ringroom.json "$BIN"
}

live() {
    if [[ ${DEPLOY_LIVE:-1} == 0 ]]; then
        echo "SKIP live (DEPLOY_LIVE=0)"
        return 77
    fi
    STEP_TIMEOUT=400 t $PY tests/deploy/live.py --bin "$BIN" --seconds 200
}

step tools tools || true
step k8s-schema k8s_schema
step k8s-policy k8s_policy
step alerts alerts
step prom-config prom_config
step dashboards dashboards
step dockerfile dockerfile
step image-run image_run
step seccomp seccomp_profile
step live live

[[ $failed -gt 0 ]] && echo "failed steps: ${failed_steps[*]}"
echo "deploy: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
