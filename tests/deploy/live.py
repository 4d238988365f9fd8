#!/usr/bin/env python3
"""The live half of the deploy suite: a real ringroom under traffic, scraped by Debian's
Prometheus once a second, and the operational artefacts checked against it.

  live.py [--bin build/ringroom] [--seconds 150]

 1. start build/ringroom on a free 127.0.0.1 port (2 threads), and tests/deploy/traffic.py;
 2. scrape /metrics once: `promtool check metrics` must print nothing, check_metrics.py must
    pass (names, types, always-present series, histograms cumulative with +Inf);
 3. start `prometheus` on a free 127.0.0.1 port with a temporary config (job "ringroom",
    scrape_interval 1s, the alert rules loaded, the labels prometheus-adapter expects) and a
    temporary TSDB; wait until `count_over_time(up{job="ringroom"}[1m]) >= 2` and the
    traffic's counters have moved;
 4. ../shared/tools/check_dashboards.py --prom: every panel query returns data; then every
    panel target's expr (datasource, $__rate_interval/$__interval -> 1m) is queried here and
    printed as `dashboard / panel title / expr -> N series`; any 0 fails;
 5. the prometheus-adapter rule's metricsQuery, rendered as the adapter would, returns the
    pod's connection count;
 6. on a healthy server under this traffic, no alert expression has a result, and
    Prometheus loaded every rule without evaluation errors.
Everything is bounded in time and loopback-only; every process started here is stopped here.
Prints one line per check and "N passed, M failed".
"""
import argparse, glob, json, os, shutil, signal, socket, subprocess, sys, tempfile, time
import urllib.parse, urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.normpath(os.path.join(ROOT, "..", "shared", "tools"))
PY = "/usr/bin/python3"
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""), flush=True)
    return ok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def prom_query(prom, q):
    st, body = http_get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": q}), timeout=10)
    return json.loads(body)


def wait_for(what, fn, timeout, interval=0.5):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(interval)
    raise TimeoutError(f"{what}: not after {timeout}s (last: {last!r})")


def data_dir_args(binary, path):
    """A private op-log directory (one server per directory) when the binary has --data-dir."""
    helptext = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
    return ["--data-dir", path] if "--data-dir" in helptext else []


class Procs:
    """Processes started by this run, stopped in reverse order whatever happens."""

    def __init__(self):
        self.procs = []

    def start(self, name, cmd, log, **kw):
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kw)
        self.procs.append((name, p))
        return p

    def stop_all(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    print(f"{name} did not stop on SIGTERM: killing pid {p.pid}", flush=True)
                    p.kill()
                    p.wait()


# what Grafana substitutes before sending a query (check_dashboards.py does the same)
GRAFANA_VARS = [(r"\$__rate_interval", "1m"), (r"\$__interval", "1m"), (r"\$\{?__range_s\}?", "300"),
                (r"\$__range", "5m"), (r"\$\{?datasource(:[a-z]+)?\}?", "prom")]


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def panel_series(prom, boards):
    """Prints `dashboard / panel title / expr -> N series` for every panel target, queried on the
    live Prometheus; a target with 0 series (or a query error) fails."""
    import re
    total, empty = 0, []
    for f in boards:
        d = json.load(open(f))
        name = os.path.splitext(os.path.basename(f))[0]
        for p in walk_panels(d.get("panels", [])):
            for t in p.get("targets", []):
                if not t.get("expr"):
                    continue
                x = t["expr"]
                for k, v in GRAFANA_VARS:
                    x = re.sub(k, v, x)
                x = " ".join(x.split())
                try:
                    res = prom_query(prom, x)
                    n = len(res["data"]["result"]) if res.get("status") == "success" else 0
                    err = "" if res.get("status") == "success" else f" ({res.get('error')})"
                except Exception as e:  # noqa: BLE001
                    n, err = 0, f" ({e!r})"
                total += 1
                print(f"     {name} / {p.get('title')} / {x} -> {n} series{err}", flush=True)
                if n == 0 or "$" in x:
                    empty.append(f"{name} / {p.get('title')} / {x}")
    check(f"{total} panel queries on {len(boards)} dashboards each return >= 1 series", total > 0 and not empty,
          "; ".join(empty)[:3000])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "ringroom"))
    ap.add_argument("--seconds", type=float, default=150, help="upper bound for the traffic")
    a = ap.parse_args()
    os.chdir(ROOT)
    logs = os.path.join(ROOT, "tests", "artifacts", "logs")
    os.makedirs(logs, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ringroom-deploy-")
    procs = Procs()
    rr_port, prom_port = free_port(), free_port()
    prom = f"http://127.0.0.1:{prom_port}"
    try:
        # 1. server + traffic
        rr_log = open(os.path.join(logs, f"deploy-ringroom-{rr_port}.log"), "wb")
        rr = procs.start("ringroom", [a.bin, "--listen", f"127.0.0.1:{rr_port}", "--threads", "2",
                                      *data_dir_args(a.bin, os.path.join(tmp, "data"))], rr_log)
        wait_for("ringroom /health", lambda: http_get(f"http://127.0.0.1:{rr_port}/health", 1)[0] == 200, 15, 0.05)
        tr_log = open(os.path.join(logs, f"deploy-traffic-{rr_port}.log"), "wb")
        procs.start("traffic", [PY, "tests/deploy/traffic.py", "--port", str(rr_port), "--seconds", str(a.seconds)],
                    tr_log)
        time.sleep(2)

        # 2. one scrape, linted
        try:
            st, text = http_get(f"http://127.0.0.1:{rr_port}/metrics")
        except Exception as e:  # noqa: BLE001
            st, text = getattr(e, "code", None), ""
        check("GET /metrics answers 200", st == 200, f"status {st}")
        open(os.path.join(tmp, "metrics.txt"), "w").write(text)
        open(os.path.join(logs, "deploy-metrics.txt"), "w").write(text)
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        out = (r.stdout + r.stderr).strip()
        check("promtool check metrics: no findings", st == 200 and r.returncode == 0 and not out, out[:2000])
        r = subprocess.run([PY, "tests/deploy/check_metrics.py", os.path.join(tmp, "metrics.txt")],
                           capture_output=True, text=True, timeout=30)
        check("check_metrics.py (contract names, histograms cumulative with +Inf)", r.returncode == 0,
              (r.stdout + r.stderr).strip()[-3000:])

        # 3. Prometheus scraping it every second, with the alert rules
        shutil.copy("alerts/ringroom.rules.yml", tmp)
        cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["ringroom.rules.yml"],
            "scrape_configs": [{
                "job_name": "ringroom", "scrape_interval": "1s", "scrape_timeout": "900ms",
                "static_configs": [{"targets": [f"127.0.0.1:{rr_port}"],
                                    # what the Kubernetes job's relabelling adds (k8s/monitoring/prometheus.yml)
                                    "labels": {"namespace": "ringroom", "pod": "ringroom-test-0"}}],
            }],
        }
        yaml.safe_dump(cfg, open(os.path.join(tmp, "prometheus.yml"), "w"))
        r = subprocess.run(["promtool", "check", "config", os.path.join(tmp, "prometheus.yml")],
                           capture_output=True, text=True, timeout=30)
        check("promtool check config (test Prometheus)", r.returncode == 0, (r.stdout + r.stderr).strip()[-1000:])
        prom_log = open(os.path.join(logs, f"deploy-prometheus-{prom_port}.log"), "wb")
        procs.start("prometheus", ["prometheus", f"--config.file={tmp}/prometheus.yml",
                                   f"--storage.tsdb.path={tmp}/tsdb", f"--web.listen-address=127.0.0.1:{prom_port}",
                                   "--storage.tsdb.retention.time=1h", "--log.level=warn"], prom_log, cwd=tmp)
        wait_for("prometheus ready", lambda: http_get(f"{prom}/-/ready", 1)[0] == 200, 30)

        def scraped_twice():
            res = prom_query(prom, 'count_over_time(up{job="ringroom"}[1m])')["data"]["result"]
            return res and float(res[0]["value"][1]) >= 2

        wait_for("count_over_time(up[1m]) >= 2", scraped_twice, 60)
        up = prom_query(prom, 'up{job="ringroom"}')["data"]["result"]
        check("Prometheus scrapes ringroom (up == 1)", bool(up) and up[0]["value"][1] == "1", json.dumps(up))

        # enough samples for rate() over ops and broadcasts, and for histogram_quantile
        def traffic_visible():
            q = 'sum(increase(ringroom_ot_ops_total[1m])) > 0 and sum(increase(ringroom_messages_received_total[1m])) > 0'
            return prom_query(prom, q)["data"]["result"]

        try:
            wait_for("ops and messages in Prometheus", traffic_visible, 30)
            check("traffic visible in Prometheus (ops, messages)", True)
        except TimeoutError as e:
            check("traffic visible in Prometheus (ops, messages)", False, str(e))
        time.sleep(3)
        if rr.poll() is not None:
            check("ringroom still running under traffic", False, f"exit {rr.returncode}")

        # 4. dashboards against live data
        boards = sorted(glob.glob("dashboards/*.json"))
        r = subprocess.run([PY, os.path.join(TOOLS, "check_dashboards.py"), "--schema",
                            os.path.join(TOOLS, "dashboard.schema.json"), "--var", "datasource=prom",
                            "--prom", prom, *boards], capture_output=True, text=True, timeout=180)
        out = (r.stdout + r.stderr).strip()
        open(os.path.join(logs, "deploy-check-dashboards.txt"), "w").write(out + "\n")
        bad = [ln for ln in out.splitlines() if not ln.startswith("ok ")]
        check(f"check_dashboards.py --prom on {len(boards)} dashboards", r.returncode == 0, "\n".join(bad)[-4000:])
        # ... and every panel's query, as Grafana would send it, with its number of series
        if r.returncode == 0:
            panel_series(prom, boards)

        # 5. prometheus-adapter rule, rendered the way the adapter renders it
        cm = yaml.safe_load(open("k8s/monitoring/prometheus-adapter-rules.yaml"))
        for rule in yaml.safe_load(cm["data"]["config.yaml"])["rules"]:
            series = rule["seriesQuery"].split("{")[0]
            q = (rule["metricsQuery"].replace("<<.Series>>", series)
                 .replace("<<.LabelMatchers>>", 'namespace="ringroom",pod=~"ringroom-test-0"')
                 .replace("<<.GroupBy>>", "pod"))
            res = prom_query(prom, q)["data"]["result"]
            sq = prom_query(prom, f'count({rule["seriesQuery"]})')["data"]["result"]
            check(f"prometheus-adapter rule {rule['name']['as']}: seriesQuery finds series and metricsQuery "
                  f"returns a value per pod", bool(res) and bool(sq) and res[0]["metric"].get("pod") == "ringroom-test-0",
                  f"{q} -> {res}")

        # 6. alert rules: loaded, evaluating without errors, none firing on a healthy loaded server
        time.sleep(2)
        groups = json.loads(http_get(f"{prom}/api/v1/rules")[1])["data"]["groups"]
        rules = [rl for g in groups for rl in g["rules"]]
        errs = [f"{rl['name']}: {rl.get('lastError')}" for rl in rules if rl.get("health") != "ok"]
        check(f"Prometheus loaded {len(rules)} alert rules, all healthy", len(rules) >= 5 and not errs, "; ".join(errs))
        for rl in rules:
            res = prom_query(prom, rl["query"])["data"]["result"]
            check(f"alert {rl['name']} expression has no result on a healthy server", not res, json.dumps(res)[:500])
    except Exception as e:  # noqa: BLE001
        check("live deploy checks ran to the end", False, repr(e))
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        for name, p in procs.procs:
            if name == "ringroom" and p.returncode not in (0, None):
                check("ringroom exited 0 after SIGTERM", False, f"exit {p.returncode}")
    passed, failed = results.count(True), results.count(False)
    print(f"live: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
