# pgvalve's sessions by state (stacked) and its held requests over time,
# with a dashed line and a label per event (DRAIN sent, CUTOVER returned,
# ...). Called by bench/metrics_timeline:
#   gnuplot -e "datafile='...'; settings='...'; outfile='...'; plot_title='...'" \
#     bench/lib/session_timeline.gp
# datafile and settings come from session_timeline.py: per row the seconds,
# then the six states of pgvalve_sessions and `other` (columns 2-8),
# pgvalve_held_requests (9) and pgvalve_drain_sessions_remaining (10).

load settings

set terminal pngcairo size 1300,720 font "sans,10"
set output outfile
set datafile commentschars "#"
set xrange [x_min:x_max]
set grid xtics ytics lc rgb "#e0e0e0"
# An event's line: in front of the data in the panels (1), behind the
# labels above the top one (2), so that a label hides the lines of later
# events that run up past it to their own labels.
set style arrow 1 nohead dt 2 lw 1.2 lc rgb "#444444" front
set style arrow 2 nohead dt 2 lw 1.2 lc rgb "#444444" back
set style textbox opaque noborder margins 0.5, 0.5
set lmargin at screen 0.07
set rmargin at screen 0.76

# Bottom to top, as in the data: active, idle in transaction, idle in
# transaction (aborted), idle, starting, held, other.
array state_name[7] = ["active", "idle in transaction", "idle in transaction (aborted)", "idle", \
                       "starting", "held", "other"]
array state_color[7] = ["#d62728", "#ff7f0e", "#8c564b", "#1f77b4", "#bcbd22", "#9467bd", "#c7c7c7"]
states = has_other_state ? 7 : 6

top_bottom = 0.40
top_top = 0.82
# One row of event labels, in the top panel's graph units.
label_step = 17.0 / (720 * (top_top - top_bottom))

set multiplot title plot_title noenhanced font "sans,12"

set tmargin at screen top_top
set bmargin at screen top_bottom
set key at screen 0.775, screen top_top left top vertical Left reverse noenhanced
set ylabel "client sessions"
set yrange [0:1<*]
set offsets 0, 0, graph 0.06, 0
set format x ""
unset xlabel
eval event_lines
eval event_tags
# Each state is filled from 0 to the sum of itself and the states below it,
# drawn top first, so that the bands stack.
plot for [i = states:1:-1] datafile using 1:(sum [j = 2:i + 1] column(j)) \
       with filledcurves x1 fc rgb state_color[i] fs solid 0.85 noborder title state_name[i]

unset label
unset arrow
eval event_lines
set tmargin at screen 0.31
set bmargin at screen 0.08
set key at screen 0.775, screen 0.31 left top vertical Left reverse noenhanced
set ylabel "requests / sessions"
set offsets 0, 0, 0, 0
if (bottom_peak > 0) { set yrange [0:*] } else { set yrange [0:1] }
set format x "%g"
set xlabel x_label noenhanced
held_title = has_held_requests ? "held requests" : "held requests\n(not exported by this build)"
if (has_drain_remaining) {
  plot datafile using 1:9 with steps lw 2 lc rgb "#9467bd" title held_title, \
       datafile using 1:10 with steps lw 2 dt 3 lc rgb "#2ca02c" title "DRAIN: sessions remaining"
} else {
  plot datafile using 1:9 with steps lw 2 lc rgb "#9467bd" title held_title
}

unset multiplot
