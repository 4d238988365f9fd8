#!/usr/bin/env python3
"""Generates the Grafana dashboards in dashboards/*.json from one description each.

  /usr/bin/python3 dashboards/generate.py            # rewrite dashboards/*.json
  /usr/bin/python3 dashboards/generate.py --check    # exit 1 if a JSON file is out of date

Edit the panels here, not in the JSON (tests/deploy/run.sh runs --check). Rules every panel
follows, because tests/deploy checks each query against a live ringroom under load with
../shared/tools/check_dashboards.py:
  - the only template variable is `datasource` (type datasource, Prometheus); queries use
    Grafana's $__rate_interval and nothing else with a `$`;
  - a query over series that appear only after an event (a close code, an HTTP status) ends
    with `or vector(0)`, so the panel shows 0 rather than "No data"; per-instance queries use
    `or on() vector(0)`, which adds the 0 only when there is no series at all (the Redis row:
    its series exist only on instances with --redis);
  - the scrape job is called "ringroom" (docs/operations.md, "Metrics").
"""
import json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
RI = "$__rate_interval"
J = '{job="ringroom"}'


def rate(metric, by=None, extra=""):
    inner = f"rate({metric}{extra}[{RI}])"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def quantile(q, hist, by="le"):
    return f"histogram_quantile({q}, sum by ({by}) (rate({hist}_bucket[{RI}])))"


class Board:
    def __init__(self, uid, title, description, tags):
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.panels, self.next_id, self.x, self.y, self.row_h = [], 1, 0, 0, 0

    def _place(self, w, h):
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        pos = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append({"id": self.next_id, "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.next_id += 1
        self.y += 1

    def panel(self, kind, title, targets, unit="short", w=8, h=8, description="", **opts):
        refs = "ABCDEFGHIJ"
        p = {"id": self.next_id, "type": kind, "title": title, "description": description,
             "datasource": DS, "gridPos": self._place(w, h),
             "targets": [{"refId": refs[i], "datasource": DS, "expr": e, "legendFormat": l,
                          "range": True, "instant": False, **({"format": "heatmap"} if kind == "heatmap" else {})}
                         for i, (e, l) in enumerate(targets)],
             "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
             "options": {}}
        if kind == "timeseries":
            p["fieldConfig"]["defaults"]["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                                      "showPoints": "never", "spanNulls": True}
            p["options"] = {"legend": {"displayMode": "table", "placement": "bottom",
                                       "calcs": ["mean", "max", "lastNotNull"]},
                            "tooltip": {"mode": "multi", "sort": "desc"}}
        elif kind == "stat":
            p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": "value", "graphMode": "area", "textMode": "auto"}
        elif kind == "heatmap":
            p["options"] = {"calculate": False, "yAxis": {"unit": unit}, "color": {"scheme": "Oranges"},
                            "cellGap": 1}
        for k, v in opts.items():
            if k == "stack":
                p["fieldConfig"]["defaults"]["custom"]["stacking"] = {"mode": "normal", "group": "A"}
            elif k == "max":
                p["fieldConfig"]["defaults"]["max"] = v
            elif k == "thresholds":
                p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": [
                    {"color": c, "value": t} for t, c in v]}
        self.panels.append(p)
        self.next_id += 1

    def json(self):
        return {
            "uid": self.uid, "title": self.title, "description": self.description, "tags": self.tags,
            "schemaVersion": 39, "version": 1, "editable": True, "graphTooltip": 1,
            "refresh": "10s", "time": {"from": "now-1h", "to": "now"}, "timezone": "utc",
            "annotations": {"list": []}, "links": [],
            "templating": {"list": [{
                "name": "datasource", "label": "Data source", "type": "datasource",
                "query": "prometheus", "regex": "", "hide": 0, "refresh": 1, "current": {}}]},
            "panels": self.panels,
        }


def overview():
    b = Board("ringroom-overview", "ringroom / overview",
              "Health of a ringroom fleet: connections, traffic, fan-out, latency, errors, cores, storage.",
              ["ringroom"])
    b.row("Fleet")
    b.panel("stat", "Instances up", [(f"sum(up{J}) or vector(0)", "up")], w=4, h=4,
            thresholds=[(None, "red"), (1, "green")])
    b.panel("stat", "WebSocket connections", [("sum(ringroom_websocket_connections)", "websockets")], w=4, h=4)
    b.panel("stat", "Rooms", [("sum(ringroom_rooms)", "rooms")], w=4, h=4)
    b.panel("stat", "Messages/s in", [(rate("ringroom_messages_received_total"), "in")], unit="reqps", w=4, h=4)
    b.panel("stat", "Draining instances", [("sum(ringroom_draining)", "draining")], w=4, h=4,
            thresholds=[(None, "green"), (1, "orange")])
    b.panel("stat", "Versions running", [("count by (version) (ringroom_build_info)", "{{version}}")], w=4, h=4)

    b.row("Connections")
    b.panel("timeseries", "WebSocket connections per instance",
            [("sum by (instance) (ringroom_websocket_connections)", "{{instance}}")])
    b.panel("timeseries", "TCP connections per core",
            [("sum by (instance, core) (ringroom_connections)", "{{instance}} core {{core}}")],
            description="All accepted sockets (HTTP and WebSocket) held by each worker core.")
    b.panel("timeseries", "Connects / rejects per second",
            [(rate("ringroom_connections_accepted_total"), "accepted"),
             (rate("ringroom_connections_rejected_total"), "rejected (limit)")], unit="cps")

    b.row("Traffic")
    b.panel("timeseries", "Messages/s in by type",
            [(rate("ringroom_messages_received_total", "type"), "{{type}}")], unit="reqps", stack=True)
    b.panel("timeseries", "Messages/s out by type",
            [(rate("ringroom_messages_sent_total", "type"), "{{type}}")], unit="reqps", stack=True)
    b.panel("timeseries", "Fan-out deliveries/s",
            [(rate("ringroom_broadcast_deliveries_total"), "deliveries/s"),
             (f"{rate('ringroom_broadcast_deliveries_total')} / {rate('ringroom_broadcast_seconds_count')}",
              "deliveries per broadcast")], unit="short",
            description="Frames delivered to room members by broadcasts, and the mean room fan-out.")
    b.panel("timeseries", "Bytes/s", [(rate("ringroom_received_bytes_total"), "received"),
                                      (rate("ringroom_sent_bytes_total"), "sent")], unit="Bps")
    b.panel("timeseries", "HTTP requests/s by status",
            [(rate("ringroom_http_requests_total", "code") + " or vector(0)", "{{code}}")], unit="reqps")
    b.panel("timeseries", "OT ops/s and handovers/s",
            [(rate("ringroom_ot_ops_total"), "ops applied"),
             (rate("ringroom_handovers_total", "result") + " or vector(0)", "handover {{result}}")],
            unit="reqps")

    b.row("Latency")
    b.panel("timeseries", "Op latency p50 / p95 / p99",
            [(quantile(q, "ringroom_op_latency_seconds"), f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)],
            unit="s", thresholds=[(None, "green"), (0.05, "red")],
            description="Server-side: op received to applied, acked and broadcast. SLO p99 <= 50 ms.")
    b.panel("timeseries", "Broadcast time p50 / p99",
            [(quantile(q, "ringroom_broadcast_seconds"), f"p{int(q * 100)}") for q in (0.5, 0.99)], unit="s")
    b.panel("timeseries", "Store write / fsync latency",
            [(quantile(0.5, "ringroom_store_write_seconds"), "write p50"),
             (quantile(0.99, "ringroom_store_write_seconds"), "write p99"),
             (quantile(0.5, "ringroom_store_fsync_seconds"), "fsync p50"),
             (quantile(0.99, "ringroom_store_fsync_seconds"), "fsync p99")], unit="s")

    b.row("Errors")
    b.panel("timeseries", "Error replies/s by code",
            [(rate("ringroom_errors_total", "code"), "{{code}}")], unit="reqps", stack=True)
    b.panel("timeseries", "Error ratio (errors / messages in)",
            [(f"({rate('ringroom_errors_total')} / {rate('ringroom_messages_received_total')}) or vector(0)",
              "error ratio")], unit="percentunit", thresholds=[(None, "green"), (0.05, "red")])
    b.panel("timeseries", "WebSocket closes/s by code",
            [(rate("ringroom_websocket_closes_total", "code") + " or vector(0)", "{{code}}")], unit="reqps")
    b.panel("timeseries", "Backlog drops, store errors, buffer exhaustion",
            [(rate("ringroom_backlog_drops_total"), "slow readers closed (backlog)"),
             (rate("ringroom_store_errors_total"), "store errors"),
             (rate("ringroom_recv_buffer_exhausted_total"), "recv buffer ring empty")], unit="reqps", w=24)

    b.row("Cores and process")
    b.panel("timeseries", "Per-core busy ratio",
            [(f"sum by (instance, core) (rate(ringroom_loop_busy_seconds_total[{RI}]))", "{{instance}} core {{core}}")],
            unit="percentunit", max=1, thresholds=[(None, "green"), (0.9, "red")],
            description="Fraction of wall time each worker core spent processing (not waiting in io_uring_enter).")
    b.panel("timeseries", "Loop iterations/s per core",
            [(f"sum by (instance, core) (rate(ringroom_loop_iterations_total[{RI}]))", "{{instance}} core {{core}}")],
            unit="short")
    b.panel("timeseries", "Process CPU (cores)",
            [(f"sum by (instance) (rate(process_cpu_seconds_total{J}[{RI}]))", "{{instance}}")], unit="short")
    b.panel("timeseries", "Resident memory", [(f"sum by (instance) (process_resident_memory_bytes{J})", "{{instance}}")],
            unit="bytes")
    b.panel("timeseries", "Open fds", [(f"sum by (instance) (process_open_fds{J})", "{{instance}}")], unit="short",
            description="Regular fds only: connections on io_uring direct descriptors are not counted here.")
    b.panel("timeseries", "Uptime", [("max by (instance) (ringroom_uptime_seconds)", "{{instance}}")], unit="s")

    # --redis (scale-out): without it these series may not exist, hence `or on() vector(0)`
    none = " or on() vector(0)"
    b.row("Redis (scale-out)")
    b.panel("timeseries", "Redis link up per instance",
            [("max by (instance) (ringroom_redis_up)" + none, "{{instance}}")], max=1,
            thresholds=[(None, "red"), (1, "green")],
            description="1 = the instance's Redis link is up. 0 = down: ops are refused with cluster-unavailable "
                        "and chat reaches only that instance's members. A single unlabelled 0: no instance runs "
                        "with --redis.")
    b.panel("timeseries", "Redis round trip p50 / p99",
            [(quantile(q, "ringroom_redis_roundtrip_seconds") + none, f"p{int(q * 100)}") for q in (0.5, 0.99)],
            unit="s", description="Command sent to reply received, all instances. An op's commit includes at "
                                  "least one; with appendfsync always, Redis's fsync is part of it.")
    b.panel("timeseries", "Commit conflicts/s per instance",
            [(rate("ringroom_redis_commit_conflicts_total", "instance") + none, "{{instance}}")], unit="reqps",
            description="Op commits whose compare-and-set lost to another instance's op on the same document. "
                        "A steady rate: one document edited hard from several instances.")
    b.panel("timeseries", "Redis reconnects per instance",
            [(f"sum by (instance) (increase(ringroom_redis_reconnects_total[{RI}]))" + none, "{{instance}}")],
            unit="short", description="Links dropped (error or --redis-timeout without an answer) and opened again.")
    b.panel("timeseries", "Catch-up ops/s per instance",
            [(rate("ringroom_redis_catchup_ops_total", "instance") + none, "{{instance}}")], unit="reqps",
            description="Ops fetched from Redis to catch up after a reconnect.")
    b.panel("timeseries", "Rooms subscribed per instance",
            [("sum by (instance) (ringroom_redis_rooms_subscribed)" + none, "{{instance}}")], unit="short",
            description="Rooms the instance is subscribed to in Redis.")
    return b


def loadtest():
    b = Board("ringroom-loadtest", "ringroom / load test",
              "What a ringload run or a benchmark campaign looks at: throughput, cost per message, "
              "latency tails, batching, saturation.", ["ringroom", "benchmark"])
    b.row("Throughput")
    b.panel("stat", "Messages/s in", [(rate("ringroom_messages_received_total"), "in")], unit="reqps", w=6, h=4)
    b.panel("stat", "Messages/s out", [(rate("ringroom_messages_sent_total"), "out")], unit="reqps", w=6, h=4)
    b.panel("stat", "Deliveries/s", [(rate("ringroom_broadcast_deliveries_total"), "deliveries")], unit="reqps",
            w=6, h=4)
    b.panel("stat", "WebSocket connections", [("sum(ringroom_websocket_connections)", "websockets")], w=6, h=4)
    b.panel("timeseries", "Messages/s in and out",
            [(rate("ringroom_messages_received_total"), "in"), (rate("ringroom_messages_sent_total"), "out"),
             (rate("ringroom_broadcast_deliveries_total"), "fan-out deliveries")], unit="reqps", w=12)
    b.panel("timeseries", "Connections and connect rate",
            [("sum(ringroom_websocket_connections)", "websockets"), ("sum(ringroom_connections)", "tcp"),
             (rate("ringroom_connections_accepted_total"), "accepts/s")], unit="short", w=12)

    b.row("Cost per message")
    b.panel("timeseries", "Server CPU µs per message in",
            [(f"1e6 * sum(rate(process_cpu_seconds_total{J}[{RI}])) / {rate('ringroom_messages_received_total')}",
              "µs CPU / message in")], unit="µs",
            description="Whole-process CPU (all cores) divided by received messages; compare with the server µs/rx column of RESULTS.md's echo table.")
    b.panel("timeseries", "Server CPU µs per delivery",
            [(f"1e6 * sum(rate(process_cpu_seconds_total{J}[{RI}])) / "
              f"({rate('ringroom_messages_sent_total')})", "µs CPU / message out")], unit="µs")
    b.panel("timeseries", "Messages per loop iteration (batching)",
            [(f"{rate('ringroom_messages_received_total')} / {rate('ringroom_loop_iterations_total')}", "in / iteration"),
             (f"{rate('ringroom_messages_sent_total')} / {rate('ringroom_loop_iterations_total')}", "out / iteration")],
            unit="short")
    b.panel("timeseries", "Resident memory per connection",
            [(f"sum(process_resident_memory_bytes{J}) / clamp_min(sum(ringroom_connections), 1)", "RSS / connection")],
            unit="bytes", w=12)
    b.panel("timeseries", "Bytes/s", [(rate("ringroom_received_bytes_total"), "received"),
                                      (rate("ringroom_sent_bytes_total"), "sent")], unit="Bps", w=12)

    b.row("Latency")
    b.panel("timeseries", "Op latency p50 / p90 / p99 / p99.9",
            [(quantile(q, "ringroom_op_latency_seconds"), n)
             for q, n in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9"))], unit="s", w=12)
    b.panel("heatmap", "Op latency distribution",
            [(f"sum by (le) (increase(ringroom_op_latency_seconds_bucket[{RI}]))", "{{le}}")], unit="s", w=12)
    b.panel("timeseries", "Broadcast time p50 / p99 / p99.9",
            [(quantile(q, "ringroom_broadcast_seconds"), n)
             for q, n in ((0.5, "p50"), (0.99, "p99"), (0.999, "p99.9"))], unit="s", w=12)
    b.panel("timeseries", "Store write / fsync p99",
            [(quantile(0.99, "ringroom_store_write_seconds"), "write p99"),
             (quantile(0.99, "ringroom_store_fsync_seconds"), "fsync p99")], unit="s", w=12)

    b.row("Saturation and loss")
    b.panel("timeseries", "Per-core busy ratio",
            [(f"sum by (instance, core) (rate(ringroom_loop_busy_seconds_total[{RI}]))", "{{instance}} core {{core}}")],
            unit="percentunit", max=1)
    b.panel("timeseries", "Process CPU (cores)",
            [(f"sum by (instance) (rate(process_cpu_seconds_total{J}[{RI}]))", "{{instance}}")], unit="short")
    b.panel("timeseries", "Loss and pushback",
            [(rate("ringroom_backlog_drops_total"), "backlog drops/s"),
             (rate("ringroom_recv_buffer_exhausted_total"), "recv buffer exhausted/s"),
             (rate("ringroom_connections_rejected_total"), "rejected connects/s"),
             (rate("ringroom_errors_total"), "error replies/s")], unit="reqps")
    b.panel("timeseries", "Errors/s by code", [(rate("ringroom_errors_total", "code"), "{{code}}")], unit="reqps",
            w=12)
    b.panel("timeseries", "WebSocket closes/s by code",
            [(rate("ringroom_websocket_closes_total", "code") + " or vector(0)", "{{code}}")], unit="reqps", w=12)
    return b


def main():
    check = "--check" in sys.argv[1:]
    stale = 0
    for board in (overview(), loadtest()):
        path = os.path.join(HERE, board.uid.replace("ringroom-", "") + ".json")
        text = json.dumps(board.json(), indent=2, ensure_ascii=False) + "\n"
        if check:
            if not os.path.exists(path) or open(path, encoding="utf-8").read() != text:
                print(f"{path}: out of date (run dashboards/generate.py)")
                stale = 1
        else:
            open(path, "w", encoding="utf-8").write(text)
            print(f"wrote {path}")
    sys.exit(stale)


if __name__ == "__main__":
    main()
