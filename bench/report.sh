#!/usr/bin/env bash
# Turns bench/run.sh's JSON lines into a table (stdout), the generated section of
# <out>/benchmarks.md (between the `make bench` markers; the file is created if missing) and
# <out>/benchmarks.png (commit→mirror latency per rate, throughput beside pg_recvlogical).
#   bench/report.sh RESULTS.jsonl OUT_DIR COMMAND
set -euo pipefail
results=$1 out=$2 command=$3
pick() { jq -r "select(.scenario == \"$1\") | $2" "$results"; }
fmt_rate() { awk -v v="$1" 'BEGIN { if (v >= 1e6) printf "%.2f M", v / 1e6; else printf "%.0f k", v / 1e3 }'; }
ms() { awk -v v="$1" 'BEGIN { printf "%.0f ms", v * 1000 }'; }
mib() { awk -v v="$1" 'BEGIN { printf "%.0f MiB", v / 1048576 }'; }
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = dir == "min" ? v >= t : v <= t; print ok ? "met" : "**not met**" }'; }

cpu=$(lscpu | awk -F: '/^Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
machine="$(nproc) vCPU ($cpu), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME"); PostgreSQL $(pick throughput .postgres) on the same machine (throwaway server, fsync off)"

rows=()
row() { rows+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }
t_changes=$(pick throughput .changes)
t_w=$(pick throughput .walden_changes_per_s) t_r=$(pick throughput .reference_changes_per_s)
t_ratio=$(pick throughput .ratio)
row "Capture throughput ($t_changes changes, archive + mirror)" "$(fmt_rate "$t_w") changes/s" \
  "pg_recvlogical $(fmt_rate "$t_r") changes/s" "$(printf %.2f "$t_ratio")×" "≥ 0.9×" \
  "$(verdict "$t_ratio" 0.9 min)"
while read -r rate p50 p90 p99 max a50 a99 achieved flush; do
  target="—"; status="—"
  if [[ $rate == 5000 ]]; then
    target="p50 ≤ 100 ms, p99 ≤ 250 ms"
    status=$(verdict "$p99" 0.25 max)
    [[ $(verdict "$p50" 0.1 max) == met ]] || status="**not met**"
  fi
  row "Latency at $rate changes/s, archive flush every $flush (achieved $(printf %.0f "$achieved"))" \
    "commit→mirror p50 $(ms "$p50"), p90 $(ms "$p90"), p99 $(ms "$p99"), max ≤ $(ms "$max")" \
    "commit→archive p50 $(ms "$a50"), p99 $(ms "$a99")" "—" "$target" "$status"
done < <(pick latency '[.target_changes_per_s, .commit_to_mirror_seconds.p50, .commit_to_mirror_seconds.p90, .commit_to_mirror_seconds.p99, .commit_to_mirror_seconds.max_le, .commit_to_archive_seconds.p50, .commit_to_archive_seconds.p99, .achieved_changes_per_s, (.flush_interval // "1s")] | @tsv')
while read -r rate p99 rounds chunks; do
  plain=$(pick latency "select(.target_changes_per_s == $rate and (.flush_interval // \"1s\") == \"1s\") | .commit_to_mirror_seconds.p99")
  v_ratio=$(awk -v v="$p99" -v p="$plain" 'BEGIN { printf "%.2f", v / (p > 0 ? p : 1) }')
  row "Latency at $rate changes/s with \`walden verify --all\` running ($rounds rounds, $chunks chunks equal)" \
    "commit→mirror p99 $(ms "$p99")" "without verify: p99 $(ms "$plain")" "${v_ratio}×" \
    "≤ 1.2× (p99 within 20 %)" "$(verdict "$v_ratio" 1.2 max)"
done < <(pick latency_verify '[.target_changes_per_s, .commit_to_mirror_seconds.p99, .verify_rounds, (.verify_chunks // 0)] | @tsv')
while read -r table n pg archive ratio; do
  row "Storage, $table ($n rows)" "archive $archive B/row" "PostgreSQL $pg B/row" \
    "$(printf %.1f "$ratio")× smaller" "≥ 7.5×" "$(verdict "$ratio" 7.5 min)"
done < <(pick storage '[.table, .rows, .postgres_bytes_per_row, .archive_bytes_per_row, .ratio] | @tsv')
for scenario in produce consume; do
  what="Topic produce (4 connections, batches of 100)"
  reference="plain INSERT … unnest"
  published="5 k writes/s"
  if [[ $scenario == consume ]]; then
    what="Topic consume (1 group, 4 members, batches of 1,000)"
    reference="SELECT by offset range"
    published="25 k reads/s"
  fi
  s_ratio=$(pick "topics_$scenario" .ratio)
  row "$what" "$(fmt_rate "$(pick "topics_$scenario" .walden_msgs_per_s)") msg/s (kafka-to-pg published: $published on 4 vCPU)" \
    "$reference $(fmt_rate "$(pick "topics_$scenario" .reference_msgs_per_s)") msg/s" \
    "$(printf %.2f "$s_ratio")×" "≥ 0.7×" "$(verdict "$s_ratio" 0.7 min)"
done
for scenario in window key; do
  what="History: one hour of a month"
  [[ $scenario == key ]] && what="History: one key over a month"
  h_w=$(pick "history_$scenario" .walden_s) h_r=$(pick "history_$scenario" .reference_s)
  h_speed=$(awk -v r="$h_r" -v w="$h_w" 'BEGIN { printf "%.1f", r / w }')
  h_bytes=$(awk -v a="$(pick "history_$scenario" .archive_bytes)" -v w="$(pick "history_$scenario" .walden_bytes)" 'BEGIN { printf "%.0f", a / (w > 0 ? w : 1) }')
  row "$what ($(pick "history_$scenario" .files) files)" \
    "$(ms "$h_w"), $(pick "history_$scenario" .walden_files) files, preview $(ms "$(pick "history_$scenario" .preview_s)")" \
    "DuckDB glob over the folder $(ms "$h_r")" "${h_speed}× faster, ${h_bytes}× fewer bytes fetched" \
    "≥ 5× faster, ≥ 10× fewer bytes, preview ≤ 50 ms" \
    "$(awk -v s="$h_speed" -v b="$h_bytes" -v p="$(pick "history_$scenario" .preview_s)" 'BEGIN { print (s >= 5 && b >= 10 && p <= 0.05) ? "met" : "**not met**" }')"
done
f_p99=$(pick feed .feed_p99_ms)
row "Live feed: commit → SSE event at $(pick feed .rate) rows/s" \
  "p50 $(printf %.0f "$(pick feed .feed_p50_ms)") ms, p99 $(printf %.0f "$f_p99") ms" \
  "commit → mirror p50 $(printf %.0f "$(pick feed .mirror_p50_ms)") ms, p99 $(printf %.0f "$(pick feed .mirror_p99_ms)") ms" \
  "—" "p99 ≤ 150 ms" "$(verdict "$f_p99" 150 max)"
row "Live feed: walden CPU with $(pick feed .clients) clients" \
  "$(printf %.2f "$(pick feed .cpu_with_clients)") cores" \
  "no client: $(printf %.2f "$(pick feed .cpu_no_clients)") cores" "—" "—" "—"
row "Queue: dequeue(10) + ack, 4 workers ($(pick topics_queue .jobs) jobs)" \
  "$(fmt_rate "$(pick topics_queue .jobs_per_s)") jobs/s" "—" "—" "—" "—"
n_ratio=$(pick snapshot .ratio)
row "Snapshot ($(pick snapshot .rows) rows, $(pick snapshot .workers) workers)" \
  "$(fmt_rate "$(pick snapshot .walden_rows_per_s)") rows/s" \
  "COPY → /dev/null $(fmt_rate "$(pick snapshot .reference_rows_per_s)") rows/s" \
  "$(printf %.2f "$n_ratio")×" "≥ 0.8×" "$(verdict "$n_ratio" 0.8 min)"
row "Snapshot CPU per million rows (machine busy $(pick snapshot '.busy * 100 | round') %)" \
  "$(printf %.2f "$(pick snapshot .walden_cpu_per_m)") core-s in walden + $(printf %.2f "$(pick snapshot .others_cpu_per_m)") in PostgreSQL" \
  "COPY → /dev/null $(printf %.2f "$(pick snapshot .reference_cpu_per_m)") core-s" "—" "—" "—"
row "Replay (\`walden mirror rebuild\`, $(pick replay .changes) changes)" \
  "$(fmt_rate "$(pick replay .changes_per_s)") changes/s" "—" "—" "—" "—"
for scenario in throughput big_txn snapshot; do
  rss=$(pick $scenario .walden_peak_rss_bytes)
  what="during the throughput run"
  [[ $scenario == big_txn ]] && what="one $(pick big_txn .rows)-row transaction"
  [[ $scenario == snapshot ]] && what="initial load of $(pick snapshot .rows) rows"
  row "Memory, $what" "peak RSS $(mib "$rss")" "—" "—" "≤ 256 MB" \
    "$(verdict "$rss" 268435456 max)"
done

table=$(printf '%s\n' "| scenario | walden | reference (same run) | ratio | target | status |" \
  "|---|---|---|---|---|---|" "${rows[@]}")
echo "$table"

# Chart: commit→mirror latency quantiles per rate, and throughput beside the reference.
data=$(mktemp)
trap 'rm -f "$data"' EXIT
pick latency 'select((.flush_interval // "1s") == "1s") | [.target_changes_per_s, .commit_to_mirror_seconds.p50 * 1000, .commit_to_mirror_seconds.p90 * 1000, .commit_to_mirror_seconds.p99 * 1000, .commit_to_archive_seconds.p50 * 1000] | @tsv' >"$data"
gnuplot <<GNUPLOT
set terminal pngcairo size 1100,420 font "sans,10" noenhanced
set output "$out/benchmarks.png"
set multiplot layout 1,2 title "walden — $command, $(date -u +%F)"
set title "commit → mirror latency"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "ms"
set xlabel "changes/s"
set yrange [0:*]
set key outside bottom center horizontal
plot "$data" using 2:xtic(1) title "p50", "" using 3 title "p90", "" using 4 title "p99", 250 with lines dt 2 lc rgb "red" title "p99 target (5,000/s)"
set title "capture throughput"
set ylabel "changes/s"
set xlabel ""
unset key
set style histogram rowstacked
set boxwidth 0.5
set yrange [0:*]
plot "-" using 2:xtic(1) with boxes lc rgb "#4477aa"
"walden (archive + mirror)" $t_w
"pg_recvlogical" $t_r
e
unset multiplot
GNUPLOT

doc=$out/benchmarks.md
[[ -f $doc ]] || printf '# Benchmarks\n\n<!-- make bench: begin -->\n<!-- make bench: end -->\n' >"$doc"
section=$(cat <<MD
<!-- make bench: begin -->
## End to end: \`$command\` ($(date -u +%F))

Generated by \`$command\` (bench/run.sh); every figure beside its reference from the same run.
Machine: $machine.

$table

![latency and throughput](benchmarks.png)

Scenarios (bench/pipeline_bench.cc, bench/snapshot_bench.cc, bench/storage_bench.cc,
bench/topics_bench.cc, bench/history_bench.cc): the real
\`walden run\` binary with its defaults except \`archive.flush_interval = 1s\`; throughput drains
a slot holding the changes of transactions of 1 to 100,000 rows (60 % inserts, 30 % updates,
10 % deletes on an 8-column orders table) while \`pg_recvlogical\` drains a twin slot created
at the same point; latency figures come from walden's own per-transaction histograms
(\`/metrics\`, bucket bounds 1 ms … 60 s, quantiles interpolated inside a bucket); peak RSS is
the process's VmHWM.
<!-- make bench: end -->
MD
)
awk -v section="$section" '
  /<!-- make bench: begin -->/ { print section; skip = 1; next }
  /<!-- make bench: end -->/ { skip = 0; next }
  !skip { print }' "$doc" >"$doc.tmp"
mv "$doc.tmp" "$doc"
echo "wrote $doc and $out/benchmarks.png"
