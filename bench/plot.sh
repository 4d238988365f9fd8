#!/usr/bin/env bash
# bench/plot.sh DIR [TITLE] [XCOL] [XLABEL]: gnuplot PNGs for one campaign's results:
#   DIR/spectrum.png    latency percentile spectrum of each step (first run of each), log scale
#   DIR/latency.png     p50 / p99 / p99.9 / max against column XCOL of DIR/summary.dat
#                       (default 2: the target rate), when there are at least two steps
# Needs gnuplot (Debian gnuplot-nox) and DIR/summary.dat (bench/results.py dat DIR).
set -euo pipefail
dir=${1:?usage: plot.sh DIR [TITLE] [XCOL] [XLABEL]}
title=${2:-$(basename "$dir")}
xcol=${3:-2}
xlabel=${4:-"offered rate (msgs/s)"}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not installed" >&2; exit 1; }

# spectra: "Value Percentile TotalCount 1/(1-Percentile)"; the last line's x is "inf"
plots=()
for d in "$dir"/*/; do
    f="$d/run-1.spectrum"
    [[ -s "$f" ]] || continue
    label=$(basename "$d")
    grep -v -e '^#' -e 'inf' -e 'Value' "$f" | awk 'NF == 4' >"$d/run-1.spectrum.dat"
    [[ -s "$d/run-1.spectrum.dat" ]] || continue
    plots+=("'$d/run-1.spectrum.dat' using 4:(\$1/1000) with lines lw 2 title '$label'")
done
if [[ ${#plots[@]} -gt 0 ]]; then
    joined=$(IFS=,; echo "${plots[*]}")
    gnuplot <<EOF
set terminal pngcairo size 1000,600 noenhanced
set output '$dir/spectrum.png'
set title "$title: latency by percentile (from scheduled send time)"
set logscale x
set logscale y
set xlabel 'percentile'
set ylabel 'latency (ms)'
set xtics ('0%%' 1, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)
set grid
set key left top
plot $joined
EOF
fi

dat="$dir/summary.dat"
if [[ -s "$dat" && $(grep -vc '^#' "$dat") -ge 2 ]]; then
    gnuplot <<EOF
set terminal pngcairo size 1000,600 noenhanced
set output '$dir/latency.png'
set title "$title: latency against load (median of runs; p99.9 and max: worst run)"
set logscale y
set xlabel "$xlabel"
set ylabel 'latency (ms)'
set grid
set key left top
plot '$dat' using $xcol:(\$5/1000) with linespoints lw 2 title 'p50', \
     '' using $xcol:(\$7/1000) with linespoints lw 2 title 'p99', \
     '' using $xcol:(\$8/1000) with linespoints lw 2 title 'p99.9', \
     '' using $xcol:(\$9/1000) with linespoints lw 2 title 'max'
EOF
fi
ls "$dir"/*.png 2>/dev/null || true
