#!/usr/bin/env bash
# bench/run.sh [CAMPAIGN...]: runs the named campaigns (default: echo chat idle ot), each a
# script of this directory. `./build.sh bench` calls it after building. campaign-1m and
# engines are long or special: name them explicitly.
set -euo pipefail
cd "$(dirname "$0")"
campaigns=("$@")
[[ ${#campaigns[@]} -eq 0 ]] && campaigns=(echo chat idle ot)
for c in "${campaigns[@]}"; do
    [[ -x "./$c.sh" ]] || { echo "bench: unknown campaign '$c' (have: $(ls *.sh | grep -v -e lib.sh -e run.sh -e plot.sh | sed 's/\.sh$//' | tr '\n' ' '))" >&2; exit 2; }
    "./$c.sh"
done
