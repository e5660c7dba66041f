# bench/scale/plot.gnuplot - plots of bench_scale's CSVs (Debian gnuplot-nox).
#
#   gnuplot -e "csv='scale.csv'; blocks='blocks.csv'; out='scale.png'" \
#           bench/scale/plot.gnuplot
#
# scale.png: one panel per cost against the index size (M tweaks);
# <out>-blocks.png (when blocks is given): connect time of every block.
# The PNGs are outputs: do not commit them.

if (!exists("csv")) csv = 'scale.csv'
if (!exists("out")) out = 'scale.png'

set datafile separator ','
set terminal pngcairo size 1600,1500 font ',10'
set output out
set multiplot layout 3,2 title 'signetd index at scale (bench/scale)'
set grid
set key top left
M = 1e6
MB = 1048576.0
pos(x) = x < 0 ? NaN : x    # -1 = not measured

set title 'connect per block (txn body, commit excluded)'
set xlabel 'tweaks indexed (M)'
set ylabel 'ms'
plot csv using ($4/M):"connect_p50_ms" with linespoints title 'p50', \
     ''  using ($4/M):"connect_p99_ms" with linespoints title 'p99', \
     ''  using ($4/M):"connect_mean_ms" with lines title 'mean', \
     ''  using ($4/M):"commit_per_block_ms" with linespoints title 'commit per block (16-block groups)'

set title 'index bytes'
set ylabel 'bytes per tweak'
set y2label 'GB'
set y2tics
plot csv using ($4/M):"bytes_per_tweak" with linespoints title 'data.mdb used / tweak', \
     ''  using ($4/M):(column("tbl_utxos_bytes")/$4) with lines title 'utxos / tweak', \
     ''  using ($4/M):(column("tbl_tweak_index_bytes")/$4) with lines title 'tweak_index / tweak', \
     ''  using ($4/M):(column("tbl_undo_bytes")/$4) with lines title 'undo / tweak', \
     ''  using ($4/M):(column("tbl_v2_bytes")/$4) with lines title 'v2 / tweak', \
     ''  using ($4/M):(column("db_free_bytes")/$4) with lines title 'free pages / tweak', \
     ''  using ($4/M):(column("db_used_bytes")/1e9) axes x1y2 with linespoints title 'data.mdb used (GB, right)'
unset y2label
unset y2tics

set title 'memory'
set xlabel 'tracked unspent outputs (M)'
set ylabel 'MiB'
plot csv using ($8/M):(column("outmap_bytes")/MB) with linespoints title 'outpoint map (8 B a slot since session 7)', \
     ''  using ($8/M):"rss_anon_mb" with lines title 'RSS anon (bench process, incl. generator)', \
     ''  using ($8/M):"rss_file_mb" with lines title 'RSS file (LMDB pages mapped)'

set title 'restart: open -> first read served'
set ylabel 'ms'
plot csv using ($8/M):"open_to_read_ms" with linespoints title 'cold page cache', \
     ''  using ($8/M):"warm_open_to_read_ms" with linespoints title 'warm page cache', \
     ''  using ($8/M):"warm_outmap_load_ms" with lines title 'outpoint map ready (warm; in the background since session 7)'

set title 'reorgs (disconnect, then reconnect the same blocks)'
set xlabel 'tweaks indexed (M)'
set ylabel 'ms'
plot csv using ($4/M):(pos(column("reorg6_disc_ms"))) with linespoints title 'depth 6 disconnect', \
     ''  using ($4/M):(pos(column("reorg6_reconn_ms"))) with linespoints title 'depth 6 reconnect (1 commit/block)', \
     ''  using ($4/M):(pos(column("reorg100_disc_ms"))) with linespoints title 'depth 100 disconnect', \
     ''  using ($4/M):(pos(column("reorg100_reconn_ms"))) with linespoints title 'depth 100 reconnect (group commit)'

set title 'read of a block at 1/4 height (raw LMDB, same rows as the HTTP routes)'
set ylabel 'ms'
set logscale y
plot csv using ($4/M):"cold_read_ms" with linespoints title 'cold (file evicted)', \
     ''  using ($4/M):"warm_read_ms" with linespoints title 'warm'
unset logscale y
unset multiplot

if (exists("blocks")) {
	set output out[1:strlen(out)-4].'-blocks.png'
	set terminal pngcairo size 1600,600 font ',10'
	set title 'connect of every block (txn body; commit excluded) and 16-block commits'
	set xlabel 'height'
	set ylabel 'ms'
	set logscale y
	set key top left
	plot blocks using 1:"connect_ms" with dots title 'connect', \
	     ''     using 1:($6 > 0 ? $6 : 1/0) with dots title 'commit (every 16th block)'
}
