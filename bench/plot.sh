#!/usr/bin/env bash
# bench/plot.sh DIR [TITLE] [XCOL] [XLABEL]: gnuplot PNGs for one campaign's results:
#   DIR/spectrum.png    latency percentile spectrum of each step (first run of each), log scale,
#                       steps in numeric order (rate-300 before rate-1000)
#   DIR/latency.png     p50 / p99 / p99.9 / max against column XCOL of DIR/summary.dat
#                       (default 2: the target rate), when at least two steps have latencies
# What the second plot is depends on the campaign (meta.txt's `campaign:`, or PLOT_KIND):
#   idle-*      DIR/rss.png instead (idle runs have no latency): the server's RSS before the
#               first connection and with N open, and RSS per connection (all in, and growth
#               only), against N
#   fsync       DIR/latency.png is op→ack latency by percentile, one line per --fsync mode,
#               one panel per workload (the step label without its -MODE)
#   checkpoint  none (both steps have the same load)
#   cluster     none (steps differ by configuration, not load: bench/cluster.py's tables)
# Titles are two lines (TITLE, then what the plot shows) so that a long TITLE fits.
# A PNG gnuplot fails on or leaves empty is removed and plot.sh exits 1: no empty image is
# left for bench/report.py to embed. Needs gnuplot (Debian gnuplot-nox) and DIR/summary.dat
# (bench/results.py dat DIR).
set -euo pipefail
dir=${1:?usage: plot.sh DIR [TITLE] [XCOL] [XLABEL]}
title=${2:-$(basename "$dir")}
xcol=${3:-2}
xlabel=${4:-"offered rate (msgs/s)"}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not installed" >&2; exit 1; }
campaign=$(awk '/^campaign:/ {print $2; exit}' "$dir/meta.txt" 2>/dev/null || true)
kind=${PLOT_KIND:-}
if [[ -z "$kind" ]]; then
    case "$campaign" in
        idle*) kind=rss ;;
        fsync) kind=modes ;;
        checkpoint|cluster) kind=none ;;
        *) kind=latency ;;
    esac
fi
failed=0

# draw NAME: runs the gnuplot script on stdin into DIR/NAME.png; removes it and marks the
# run failed if gnuplot fails or writes nothing.
draw() {
    local png="$dir/$1.png"
    rm -f "$png"
    if ! { printf "set terminal pngcairo size 1000,600 noenhanced\nset output '%s'\n" "$png"; cat; } | gnuplot ||
        [[ ! -s "$png" ]]; then
        rm -f "$png"
        echo "plot.sh: $png: gnuplot failed or wrote nothing" >&2
        failed=1
    fi
}

dat="$dir/summary.dat"
# index_in WORD " A B C ": WORD's position in the space-separated list, from 1: a gnuplot line
# colour or dash type (0 would be gnuplot's dotted grid type)
index_in() { tr ' ' '\n' <<<"$2" | grep -v '^$' | grep -n -x -F -- "$1" | cut -d: -f1; }

# rows of summary.dat whose column $1 is a number
rows_with() { [[ -s "$dat" ]] && awk -v c="$1" '!/^#/ && $c != "nan" && $c != ""' "$dat" | wc -l || echo 0; }

# spectra: "Value Percentile TotalCount 1/(1-Percentile)"; the last line's x is "inf".
# fsync (modes): one colour per mode, solid for the first workload, dashed for the next.
plots=()
modes=" "
works=" "
while IFS= read -r d; do
    f="$d/run-1.spectrum"
    [[ -s "$f" ]] || continue
    label=$(basename "$d")
    grep -v -e '^#' -e 'inf' -e 'Value' "$f" | awk 'NF == 4' >"$d/run-1.spectrum.dat" || true
    [[ -s "$d/run-1.spectrum.dat" ]] || continue
    style=""
    if [[ "$kind" == modes ]]; then
        [[ "$modes" == *" ${label##*-} "* ]] || modes+="${label##*-} "
        [[ "$works" == *" ${label%-*} "* ]] || works+="${label%-*} "
        style=" lc $(index_in "${label##*-}" "$modes") dt $(index_in "${label%-*}" "$works")"
    fi
    plots+=("'$d/run-1.spectrum.dat' using 4:(\$1/1000) with lines lw 2$style title '$label'")
done < <(find "$dir" -mindepth 1 -maxdepth 1 -type d | sort -V)
rm -f "$dir/spectrum.png"
if [[ ${#plots[@]} -gt 0 ]]; then
    joined=$(IFS=,; echo "${plots[*]}")
    draw spectrum <<EOF
set title "$title\nlatency by percentile (from scheduled send time)"
set logscale x
set logscale y
set xlabel 'percentile'
set ylabel 'latency (ms)'
set xtics ('0%%' 1, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)
set grid
set rmargin 6
set key right bottom opaque
plot $joined
EOF
fi

rm -f "$dir/latency.png" "$dir/rss.png"
case "$kind" in
latency)
    if [[ $(rows_with 5) -ge 2 ]]; then
        draw latency <<EOF
set title "$title\nlatency against load (median of runs; p99.9 and max: worst run)"
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
    ;;
rss)
    # columns 15 conns, 16 rss_conn (growth, bytes), 22 rss_before_kb, 23 rss_ready_kb
    # (bench/results.py dat). Left: the server's RSS before the first connection and with N open,
    # against N: its slope is what one more connection costs. Right: RSS per connection, all in
    # (RSS / N) and growth only ((RSS - RSS before) / N).
    if [[ $(rows_with 23) -ge 2 ]]; then
        awk '!/^#/ && $23 != "nan"' "$dat" | sort -n -k15 >"$dir/rss.dat"
        draw rss <<EOF
set multiplot layout 1,2 title "$title\nserver RSS against idle connections (median of runs)"
set xlabel 'connections'
set xrange [0:*]
set yrange [0:*]
set offsets 0, graph 0.08, graph 0.15, 0
set grid
set key left bottom opaque
set title 'server RSS'
set ylabel 'MiB'
plot '$dir/rss.dat' using 15:(\$23 / 1024) with linespoints lw 2 pt 7 title 'with N connections open', \
     '' using 15:(\$23 / 1024):(sprintf('%.1f', \$23 / 1024)) with labels offset 0,1.2 notitle, \
     '' using 15:(\$22 / 1024) with linespoints lw 2 dt 2 pt 6 title 'before the first connection'
set title 'server RSS per connection'
set ylabel 'bytes per connection'
set key right top opaque
plot '$dir/rss.dat' using 15:(\$23 * 1024 / \$15) with linespoints lw 2 pt 7 title 'all in: RSS / N', \
     '' using 15:(\$23 * 1024 / \$15):(sprintf('%.0f B', \$23 * 1024 / \$15)) with labels offset 0,1.2 notitle, \
     '' using 15:16 with linespoints lw 2 dt 2 pt 6 title 'growth: (RSS - RSS before) / N'
unset multiplot
EOF
    fi
    ;;
modes)
    # step labels WORKLOAD-MODE (bench/fsync.sh); columns 17-21: ack p50 p90 p99 p99.9 max
    if [[ $(rows_with 17) -ge 1 ]]; then
        work=()
        while IFS= read -r w; do work+=("$w"); done < <(awk '!/^#/ && $17 != "nan" {l = $1; sub(/-[^-]*$/, "", l); print l}' "$dat" | sort -uV)
        # the same colour for a mode in every panel (and in the spectrum: order of first appearance)
        all_modes=" $(awk '!/^#/ {m = $1; sub(/.*-/, "", m); if (!(m in s)) { s[m] = 1; printf "%s ", m }}' "$dat")"
        draw latency < <(
            echo "set multiplot layout 1,${#work[@]} title \"$title\\nop→ack latency by percentile, one line per --fsync mode (median of runs; p99.9, max: worst run)\""
            echo "set logscale y"
            echo "set ylabel 'op→ack latency (ms)'"
            echo "set xtics ('p50' 1, 'p90' 2, 'p99' 3, 'p99.9' 4, 'max' 5)"
            echo "set xrange [0.7:5.3]"
            echo "set grid"
            echo "set key left top"
            for w in "${work[@]}"; do
                lines=()
                while read -r -a c; do
                    f="$dir/${c[0]}/ack.dat"
                    printf '1 %s\n2 %s\n3 %s\n4 %s\n5 %s\n' "${c[16]}" "${c[17]}" "${c[18]}" "${c[19]}" "${c[20]}" >"$f"
                    lines+=("'$f' using 1:(\$2/1000) with linespoints lw 2 lc $(index_in "${c[0]##*-}" "$all_modes") title '${c[0]##*-}'")
                done < <(awk -v w="$w" '!/^#/ && $17 != "nan" {l = $1; sub(/-[^-]*$/, "", l); if (l == w) print}' "$dat")
                echo "set title '$w'"
                echo "plot $(IFS=,; echo "${lines[*]}")"
            done
            echo "unset multiplot"
        )
    fi
    ;;
none) ;;
*) echo "plot.sh: unknown PLOT_KIND '$kind' (latency, rss, modes, none)" >&2; failed=1 ;;
esac
ls "$dir"/*.png 2>/dev/null || true
exit "$failed"
