#!/usr/bin/env python3
"""The shared schema bundle (k8s-v1.29-schemas.json) has no DaemonSet. A DaemonSet's spec is a
Deployment's minus replicas, with updateStrategy (same shape: type + rollingUpdate{maxSurge,
maxUnavailable}) in place of strategy, so validating it *as* a Deployment still checks the
whole pod template and selector strictly. Reads a multi-document YAML, writes one with every
DaemonSet rewritten that way (other documents unchanged).  Usage: IN.yaml OUT.yaml"""
import sys
import yaml

out = []
for d in yaml.safe_load_all(open(sys.argv[1])):
    if not d:
        continue
    if d.get("kind") == "DaemonSet" and d.get("apiVersion") == "apps/v1":
        d["kind"] = "Deployment"
        us = d["spec"].pop("updateStrategy", None)
        if us:
            if us.get("type") == "OnDelete":      # no Deployment equivalent; shape checked by hand
                assert set(us) == {"type"}, us
            else:
                d["spec"]["strategy"] = us
        d["metadata"]["name"] += "-as-deployment"
    out.append(d)
yaml.safe_dump_all(out, open(sys.argv[2], "w"), sort_keys=False)
