#!/usr/bin/env python3
"""Checks the rendered Kubernetes manifests for what the API schema cannot see: the contracts
between objects and with the ringroom binary.

  check_manifests.py --bin build/ringroom --adapter k8s/monitoring/prometheus-adapter-rules.yaml \
      --seccomp seccomp.yaml --base base.yaml --production production.yaml \
      base.yaml scale-out.yaml production.yaml

Each YAML file is one `kubectl kustomize` output. Prints one line per finding and exits 1 if
there was any. What it checks, per render:
  - ConfigMap RINGROOM_* keys are options `ringroom --help` lists, and the binary accepts their
    values (it parses the environment before --version);
  - probes on /health; grace period >= preStop sleep + RINGROOM_DRAIN_TIMEOUT + 5s, liveness
    budget longer than the grace period (a draining pod answers 503);
  - non-root, read-only root, no privilege escalation, capabilities dropped, a seccomp profile
    (Pod Security "restricted" where the namespace enforces it); the Localhost profile path is
    the one the installer DaemonSet writes;
  - Service/Ingress/HPA/PDB/NetworkPolicy/StatefulSet references resolve (names, ports, labels);
  - HPA (where there is one): autoscaling/v2 on CPU and on the Pods metric the prometheus-adapter
    rule exposes;
  - Prometheus scrape annotations name the container's port;
  - rooms are never split between pods: the base (--base) has 1 replica and no HPA; any render
    with more than 1 replica or an HPA sets RINGROOM_REDIS to redis://HOST:PORT[/DB] whose HOST
    is a Service of the same render selecting a 1-replica Redis StatefulSet with AOF on
    (appendfsync always or everysec) on a PVC, a NetworkPolicy admitting only ringroom pods on
    the port, and ringroom's egress to it; a Redis without RINGROOM_REDIS, or RINGROOM_REDIS with
    the MongoDB store (refused at start), is a finding; each replica's data dir is on a per-pod
    volume (emptyDir or a StatefulSet volumeClaimTemplate, never one shared claim).
"""
import argparse, json, os, re, subprocess, sys

import yaml

findings = []


def bad(where, msg):
    findings.append(f"{where}: {msg}")


def duration_s(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", text or "")
    if not m:
        return None
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def ringroom_env_names(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
    return set(re.findall(r"env (RINGROOM_[A-Z_]+)", out))


def check_render(path, args, env_names, adapter_metrics, seccomp_paths):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    where = os.path.basename(path)
    by = {}
    for d in docs:
        by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    ns = next(iter(by.get("Namespace", {}).values()), None)
    restricted = ns and ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") == "restricted"
    cms = by.get("ConfigMap", {})

    # --- ringroom Deployment
    dep = by.get("Deployment", {}).get("ringroom")
    if not dep:
        bad(where, "no Deployment ringroom")
        return
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    plabels = dep["spec"]["template"]["metadata"].get("labels", {})
    if not selects(spec["selector"]["matchLabels"], plabels):
        bad(where, "Deployment selector does not match its pod labels")
    c = next((x for x in pod["containers"] if x["name"] == "ringroom"), None)
    if c is None:
        bad(where, "no container ringroom")
        return
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    http_port = ports.get("http")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = c.get(probe, {}).get("httpGet", {})
        if p.get("path") != "/health" or p.get("port") not in ("http", http_port):
            bad(where, f"{probe} is not an httpGet of /health on the http port: {p}")

    env = {}
    for ef in c.get("envFrom", []):
        name = ef.get("configMapRef", {}).get("name")
        if name not in cms:
            bad(where, f"envFrom ConfigMap {name} is not in the render")
        else:
            env.update(cms[name].get("data", {}))
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif e["name"] == "RINGROOM_THREADS":
            ref = e.get("valueFrom", {}).get("resourceFieldRef", {})
            lim = str(c.get("resources", {}).get("limits", {}).get("cpu", ""))
            if ref.get("resource") != "limits.cpu" or not re.fullmatch(r"\d+", lim):
                bad(where, f"RINGROOM_THREADS should come from a whole-CPU limits.cpu (got {ref}, limit {lim!r})")
            else:
                env["RINGROOM_THREADS"] = lim
    for k in env:
        if k.startswith("RINGROOM_") and k not in env_names:
            bad(where, f"{k} is not an option of this ringroom (see build/ringroom --help)")
    known = {k: v for k, v in env.items() if k in env_names}
    r = subprocess.run([args.bin, "--version"], env={"PATH": "/usr/bin:/bin", **known},
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        bad(where, f"ringroom rejects the configured environment: {r.stderr.strip()}")
    listen = env.get("RINGROOM_LISTEN", "")
    if not listen.endswith(f":{http_port}") or listen.startswith("127."):
        bad(where, f"RINGROOM_LISTEN {listen!r} must listen on all interfaces on containerPort {http_port}")

    # with readOnlyRootFilesystem, everything ringroom writes must be on a mounted volume
    mounts = [m["mountPath"].rstrip("/") for m in c.get("volumeMounts", [])]
    if "RINGROOM_DATA_DIR" in env_names:
        dd = env.get("RINGROOM_DATA_DIR", "./data")
        if not dd.startswith("/") or not any(dd == m or dd.startswith(m + "/") for m in mounts):
            bad(where, f"RINGROOM_DATA_DIR {dd!r} is not on a mounted volume ({mounts}): read-only root")

    drain = duration_s(env.get("RINGROOM_DRAIN_TIMEOUT", "10s"))
    pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_s = float(pre[-1]) if len(pre) >= 2 and pre[0].endswith("sleep") else 0
    if not pre_s:
        bad(where, f"preStop is not a sleep: {pre}")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if drain is None or grace < pre_s + drain + 5:
        bad(where, f"terminationGracePeriodSeconds {grace} < preStop {pre_s}s + drain {drain}s + 5s")
    lp = c.get("livenessProbe", {})
    if lp.get("periodSeconds", 10) * lp.get("failureThreshold", 3) <= grace:
        bad(where, "liveness probe can fail within the grace period of a draining pod")

    if pod.get("enableServiceLinks", True) and any(n.upper().startswith("RINGROOM") for n in by.get("Service", {})):
        bad(where, "enableServiceLinks is not false: Service ringroom would inject RINGROOM_SERVICE_HOST/RINGROOM_PORT")

    # --- security
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
        bad(where, "ringroom: runAsNonRoot not set")
    if not csc.get("readOnlyRootFilesystem"):
        bad(where, "ringroom: readOnlyRootFilesystem not set")
    sp = csc.get("seccompProfile") or psc.get("seccompProfile") or {}
    if sp.get("type") != "Localhost" or sp.get("localhostProfile") not in seccomp_paths:
        bad(where, f"ringroom seccompProfile {sp} is not the Localhost profile the installer writes {sorted(seccomp_paths)}")
    for kind in ("Deployment", "StatefulSet"):
        for name, w in by.get(kind, {}).items():
            ps = w["spec"]["template"]["spec"]
            for ctr in ps.get("initContainers", []) + ps["containers"]:
                sc = ctr.get("securityContext", {})
                pfx = f"{where}: {kind} {name} container {ctr['name']}"
                if sc.get("allowPrivilegeEscalation") is not False:
                    findings.append(f"{pfx}: allowPrivilegeEscalation is not false")
                if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                    findings.append(f"{pfx}: capabilities not dropped")
                if not (ps.get("securityContext", {}).get("runAsNonRoot") or sc.get("runAsNonRoot")):
                    findings.append(f"{pfx}: runAsNonRoot not set")
                if not (ps.get("securityContext", {}).get("seccompProfile") or sc.get("seccompProfile")):
                    findings.append(f"{pfx}: no seccompProfile (Pod Security restricted)")
                if "resources" not in ctr or "memory" not in ctr["resources"].get("limits", {}):
                    findings.append(f"{pfx}: no memory limit")
            if restricted and any("hostPath" in v for v in ps.get("volumes", [])):
                bad(where, f"{kind} {name}: hostPath in a restricted namespace")

    # --- scrape annotations
    ann = dep["spec"]["template"]["metadata"].get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(http_port) \
            or ann.get("prometheus.io/path") != "/metrics":
        bad(where, f"prometheus.io annotations do not point at :{http_port}/metrics: {ann}")

    # --- Service, Ingress
    svc = by.get("Service", {}).get("ringroom")
    if not svc or not selects(svc["spec"]["selector"], plabels):
        bad(where, "Service ringroom missing or not selecting the ringroom pods")
    svc_ports = {p.get("name"): p for p in (svc or {"spec": {"ports": []}})["spec"]["ports"]}
    if "http" not in svc_ports or svc_ports["http"].get("targetPort") not in ("http", http_port):
        bad(where, "Service port http does not target the container's http port")
    ing = by.get("Ingress", {}).get("ringroom")
    if not ing:
        bad(where, "no Ingress ringroom")
    else:
        a = ing["metadata"].get("annotations", {})
        idle = duration_s(env.get("RINGROOM_IDLE_TIMEOUT", "60s"))
        for k in ("proxy-read-timeout", "proxy-send-timeout"):
            v = a.get(f"nginx.ingress.kubernetes.io/{k}")
            if not v or int(v) < 2 * idle:
                bad(where, f"Ingress {k} {v} is shorter than 2 x idle timeout ({idle}s): idle WebSockets would be cut")
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                b = p["backend"]["service"]
                if b["name"] != "ringroom" or b["port"].get("name", b["port"].get("number")) not in svc_ports \
                        and b["port"].get("number") not in [x["port"] for x in svc_ports.values()]:
                    bad(where, f"Ingress backend {b} does not match Service ringroom")

    # --- HPA (the base has none: scale_out checks that)
    hpa = by.get("HorizontalPodAutoscaler", {}).get("ringroom")
    if hpa and hpa["apiVersion"] != "autoscaling/v2":
        bad(where, "HPA ringroom is not autoscaling/v2")
    elif hpa:
        t = hpa["spec"]["scaleTargetRef"]
        if (t["kind"], t["name"]) != ("Deployment", "ringroom"):
            bad(where, f"HPA targets {t}")
        ms = hpa["spec"]["metrics"]
        if not any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in ms):
            bad(where, "HPA does not scale on CPU")
        pods = [m["pods"]["metric"]["name"] for m in ms if m["type"] == "Pods"]
        if not pods or any(p not in adapter_metrics for p in pods):
            bad(where, f"HPA Pods metrics {pods} are not exposed by the prometheus-adapter rule ({sorted(adapter_metrics)})")
        if hpa["spec"].get("minReplicas", 1) < 3:
            bad(where, "HPA minReplicas below 3")
        if "cpu" not in c.get("resources", {}).get("requests", {}):
            bad(where, "HPA on CPU utilization needs a CPU request")

    # --- PDB
    pdb = by.get("PodDisruptionBudget", {}).get("ringroom")
    if not pdb or not selects(pdb["spec"]["selector"]["matchLabels"], plabels):
        bad(where, "PodDisruptionBudget ringroom missing or not selecting the pods")

    # --- replicas, HPA and Redis: rooms are never split between pods
    redis = scale_out(where, by, env, spec, pod, plabels, is_base=path == args.base)

    # --- StatefulSets + their headless Services, NetworkPolicy ports
    for name, port in (("mongodb", 27017),) + ((redis,) if redis else ()):
        ss = by.get("StatefulSet", {}).get(name)
        if not ss:
            bad(where, f"no StatefulSet {name}")
            continue
        if not ss["spec"].get("volumeClaimTemplates"):
            bad(where, f"StatefulSet {name} has no volumeClaimTemplates")
        s = by.get("Service", {}).get(ss["spec"]["serviceName"])
        sl = ss["spec"]["template"]["metadata"]["labels"]
        if not s or s["spec"].get("clusterIP") != "None" or not selects(s["spec"]["selector"], sl):
            bad(where, f"StatefulSet {name}: headless Service {ss['spec']['serviceName']} missing or not selecting it")
        elif port not in [p["port"] for p in s["spec"]["ports"]]:
            bad(where, f"Service {name} does not expose {port}")
        np = by.get("NetworkPolicy", {}).get("ringroom", {})
        eg = [p["port"] for r in np.get("spec", {}).get("egress", []) for p in r.get("ports", [])]
        if port not in eg:
            bad(where, f"NetworkPolicy ringroom does not allow egress to {name}:{port}")
        np2 = by.get("NetworkPolicy", {}).get(name)
        if not np2 or not selects(np2["spec"]["podSelector"]["matchLabels"], sl):
            bad(where, f"no NetworkPolicy protecting {name}")
    np = by.get("NetworkPolicy", {}).get("ringroom")
    if not np or not selects(np["spec"]["podSelector"]["matchLabels"], plabels):
        bad(where, "NetworkPolicy ringroom missing or not selecting the pods")
    elif http_port not in [p["port"] for r in np["spec"].get("ingress", []) for p in r.get("ports", [])]:
        bad(where, f"NetworkPolicy ringroom does not admit port {http_port}")
    return dep


def is_redis(ctr):
    return ctr.get("image", "").split("/")[-1].startswith("redis") or "redis-server" in ctr.get("command", [])[:1]


def redis_args(ctr):
    """redis-server's configuration from its command line: {option: [values]}."""
    argv, conf, key = ctr.get("command", [])[1:] + ctr.get("args", []), {}, None
    for a in argv:
        if a.startswith("--"):
            key = a[2:]
            conf[key] = []
        elif key:
            conf[key].append(a)
    return conf


def scale_out(where, by, env, spec, pod, plabels, is_base):
    """Several ringroom replicas only with the Redis link to a Redis of the same render.
    Returns (Redis StatefulSet name, port) when RINGROOM_REDIS points at one, for the generic
    StatefulSet checks."""
    replicas = spec.get("replicas", 1)
    hpas = [h for h in by.get("HorizontalPodAutoscaler", {}).values()
            if h["spec"]["scaleTargetRef"].get("name") == "ringroom"]
    several = replicas > 1 or bool(hpas)
    if is_base:
        if replicas != 1:
            bad(where, f"base Deployment ringroom has {replicas} replicas: the base must run 1 "
                       "(without Redis, replicas split rooms)")
        if hpas:
            bad(where, "base has an HPA for ringroom: the base must not scale (without Redis, replicas split rooms)")

    # several servers: one data directory each
    if several:
        mounts = {vm["name"]: vm["mountPath"] for x in pod["containers"] if x["name"] == "ringroom"
                  for vm in x.get("volumeMounts", [])}
        dd = env.get("RINGROOM_DATA_DIR", "")
        vol = next((n for n, mp in sorted(mounts.items(), key=lambda i: -len(i[1]))
                    if dd == mp.rstrip("/") or dd.startswith(mp.rstrip("/") + "/")), None)
        v = next((x for x in pod.get("volumes", []) if x["name"] == vol), None)
        if vol and not (v and "emptyDir" in v):
            bad(where, f"RINGROOM_DATA_DIR is on volume {vol} ({v}) shared by {replicas} replicas: one server per "
                       "directory (emptyDir, or a StatefulSet volumeClaimTemplate)")

    workloads = [(kind, name, w) for kind in ("StatefulSet", "Deployment") for name, w in by.get(kind, {}).items()
                 if any(is_redis(x) for x in w["spec"]["template"]["spec"]["containers"])]
    url = env.get("RINGROOM_REDIS", "")
    if not url:
        if several:
            bad(where, f"ringroom runs {replicas} replica(s){' with an HPA' if hpas else ''} but RINGROOM_REDIS "
                       "is not set: each pod would have its own rooms (run 1 replica, or use the Redis link)")
        for kind, name, _ in workloads:
            bad(where, f"{kind} {name} runs Redis but RINGROOM_REDIS is not set: nothing would use it")
        return None
    if env.get("RINGROOM_STORE", "embedded").startswith("mongodb"):
        bad(where, "RINGROOM_REDIS together with RINGROOM_STORE=mongodb://...: ringroom refuses this at start")
    m = re.fullmatch(r"redis://([A-Za-z0-9.-]+):(\d+)(/\d+)?", url)
    if not m:
        bad(where, f"RINGROOM_REDIS {url!r} is not redis://HOST:PORT[/DB]")
        return None
    host, port = m.group(1).split(".")[0], int(m.group(2))
    svc = by.get("Service", {}).get(host)
    if not svc or port not in [p["port"] for p in svc["spec"]["ports"]]:
        bad(where, f"RINGROOM_REDIS {url}: no Service {host} with port {port} in the render")
        return None
    target = [(k, n, w) for k, n, w in workloads
              if selects(svc["spec"].get("selector"), w["spec"]["template"]["metadata"].get("labels", {}))]
    if len(target) != 1:
        bad(where, f"RINGROOM_REDIS {url}: Service {host} selects {len(target)} Redis workloads, not 1")
        return None
    kind, name, w = target[0]
    for k, n, _ in workloads:
        if n != name:
            bad(where, f"{k} {n} runs Redis but RINGROOM_REDIS points elsewhere ({url})")
    if kind != "StatefulSet" or not w["spec"].get("volumeClaimTemplates"):
        bad(where, f"Redis {kind} {name} has no PVC (a StatefulSet with volumeClaimTemplates): its AOF would "
                   "not survive the pod")
    if w["spec"].get("replicas", 1) != 1:
        bad(where, f"Redis {kind} {name} has {w['spec'].get('replicas')} replicas: they would be independent servers")
    rpod = w["spec"]["template"]["spec"]
    ctr = next(x for x in rpod["containers"] if is_redis(x))
    conf = redis_args(ctr)
    if conf.get("appendonly") != ["yes"]:
        bad(where, f"Redis {name}: AOF is not on (--appendonly yes): acked ops would not survive a Redis restart")
    if conf.get("appendfsync", ["everysec"]) not in (["always"], ["everysec"]):
        bad(where, f"Redis {name}: --appendfsync {conf.get('appendfsync')} (always or everysec)")
    if conf.get("maxmemory-policy", ["noeviction"]) != ["noeviction"]:
        bad(where, f"Redis {name}: --maxmemory-policy {conf.get('maxmemory-policy')} would evict room state")
    rdir = (conf.get("dir") or ["/data"])[0].rstrip("/")
    claims = {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
    if not any(vm["name"] in claims and (rdir == vm["mountPath"].rstrip("/") or rdir.startswith(vm["mountPath"].rstrip("/") + "/"))
               for vm in ctr.get("volumeMounts", [])):
        bad(where, f"Redis {name}: --dir {rdir} is not on its PVC")
    for probe in ("readinessProbe", "livenessProbe"):
        if "redis-cli" not in " ".join(ctr.get(probe, {}).get("exec", {}).get("command", [])):
            bad(where, f"Redis {name}: {probe} is not a redis-cli ping")
    rlabels = w["spec"]["template"]["metadata"]["labels"]
    pols = [np for np in by.get("NetworkPolicy", {}).values()
            if selects(np["spec"]["podSelector"].get("matchLabels"), rlabels)]
    if not pols:
        bad(where, f"no NetworkPolicy protecting Redis {name}")
    for np in pols:
        for rule in np["spec"].get("ingress", []):
            peers = rule.get("from", [])
            if not peers or any(set(p) != {"podSelector"} or not selects(p["podSelector"].get("matchLabels"), plabels)
                                for p in peers):
                bad(where, f"NetworkPolicy {np['metadata']['name']} admits more than the ringroom pods to Redis: {peers}")
            if [p.get("port") for p in rule.get("ports", [])] not in ([port], [ctr_port(ctr, port)]):
                bad(where, f"NetworkPolicy {np['metadata']['name']} admits ports {rule.get('ports')} to Redis, not only {port}")
    np = by.get("NetworkPolicy", {}).get("ringroom", {})
    if not any(port in [p.get("port") for p in r.get("ports", [])]
               and any(selects(t.get("podSelector", {}).get("matchLabels"), rlabels) for t in r.get("to", []))
               for r in np.get("spec", {}).get("egress", [])):
        bad(where, f"NetworkPolicy ringroom does not allow egress to Redis {name}:{port}")

    return (name, port)


def ctr_port(ctr, port):
    return next((p.get("name") for p in ctr.get("ports", []) if p["containerPort"] == port), port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--seccomp", required=True, help="kubectl kustomize k8s/seccomp output")
    ap.add_argument("--production", help="the production render (stricter: pinned image)")
    ap.add_argument("--base", help="the base render (1 replica, no HPA)")
    ap.add_argument("renders", nargs="+")
    args = ap.parse_args()

    env_names = ringroom_env_names(args.bin)
    if not env_names:
        bad(args.bin, "--help lists no RINGROOM_* variables")
    cm = yaml.safe_load(open(args.adapter))
    rules = yaml.safe_load(cm["data"]["config.yaml"])["rules"]
    adapter_metrics = {r["name"]["as"] for r in rules}

    seccomp_paths, sec = set(), [d for d in yaml.safe_load_all(open(args.seccomp)) if d]
    for d in sec:
        if d["kind"] == "DaemonSet":
            ps = d["spec"]["template"]["spec"]
            mounts = {v["name"]: v["hostPath"]["path"] for v in ps["volumes"] if "hostPath" in v}
            if mounts.get("seccomp-root") != "/var/lib/kubelet/seccomp":
                bad("seccomp", f"installer hostPath {mounts} is not the kubelet seccomp root")
            script = " ".join(" ".join(x.get("command", [])) for x in ps.get("initContainers", []))
            for m in re.findall(r"/host/(profiles/[\w.-]+\.json)(?=\s|$)", script):
                seccomp_paths.add(m)
            if not any(t.get("operator") == "Exists" for t in ps.get("tolerations", [])):
                bad("seccomp", "installer does not tolerate every taint")
        if d["kind"] == "ConfigMap":
            prof = json.loads(d["data"]["ringroom.json"])
            if prof != json.load(open(os.path.join(os.path.dirname(args.adapter), "..", "seccomp", "ringroom.json"))):
                bad("seccomp", "ConfigMap profile differs from k8s/seccomp/ringroom.json")
    if not seccomp_paths:
        bad("seccomp", "the installer writes no profiles/*.json")

    for r in args.renders:
        dep = check_render(r, args, env_names, adapter_metrics, seccomp_paths)
        if dep and r == args.production:
            img = dep["spec"]["template"]["spec"]["containers"][0]["image"]
            if img.endswith(":latest") or ":" not in img.rsplit("/", 1)[-1]:
                bad(os.path.basename(r), f"production image {img} is not pinned to a tag")

    if args.base and args.base not in args.renders:
        bad(args.base, "--base is not one of the renders")
    for f in findings:
        print(f)
    print(f"check_manifests: {len(args.renders)} renders, {len(findings)} findings")
    sys.exit(1 if findings else 0)


if __name__ == "__main__":
    main()
