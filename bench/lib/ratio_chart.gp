# TPS ratio to direct PostgreSQL by client count, one panel per pgbench
# query mode. Called by bench/run:
#   gnuplot -e "datafile='...'; outfile='...'" bench/lib/ratio_chart.gp
# The data (report.py --chart-data) has one block per mode (simple,
# extended, prepared); each row: clients, then median, min and max ratio for
# pgvalve, pgbouncer, pgbouncer-tx and floor (the bare forwarder). The bars
# span the rounds' min to max.

set terminal pngcairo size 1500,520 font "sans,11"
set output outfile
set datafile missing "?"
set logscale x 2
set xrange [0.7:370]
set xtics ("1" 1, "16" 16, "64" 64, "256" 256)
set yrange [0:*]
set offsets 0, 0, graph 0.3, 0
set grid ytics lc rgb "#dddddd"
set key top left box opaque
set xlabel "pgbench clients"
set ylabel "TPS ratio to direct"

set style line 1 lc rgb "#d62728" lw 2 pt 7 ps 1.2
set style line 2 lc rgb "#1f77b4" lw 2 pt 5 ps 1.2
set style line 3 lc rgb "#7f7f7f" lw 2 pt 9 ps 1.2 dt 2
set style line 4 lc rgb "#2ca02c" lw 2 pt 13 ps 1.2 dt 4

set multiplot layout 1,3 title "TPS relative to direct PostgreSQL (pgbench -S), median of rounds, bars = min-max"
modes = "simple extended prepared"
do for [i = 1:3] {
  set title sprintf("-M %s", word(modes, i))
  plot datafile index (i - 1) using 1:2:3:4 with yerrorlines ls 1 title "pgvalve", \
       ''       index (i - 1) using 1:5:6:7 with yerrorlines ls 2 title "pgbouncer (session)", \
       ''       index (i - 1) using 1:8:9:10 with yerrorlines ls 3 title "pgbouncer (transaction)", \
       ''       index (i - 1) using 1:11:12:13 with yerrorlines ls 4 title "floor (bare forwarder)", \
       1 with lines lc rgb "black" dt 3 notitle
}
unset multiplot
