#pragma once
// The tables of bench/cutover_bench: per mode, per round, and the steps of
// each CUTOVER, from the rounds' lines.

#include <istream>

namespace pgvalve::bench {

// Reads rounds (one line each) until the end of `in` and prints the
// tables on stdout. Returns 1 when a round lost or duplicated a row, wrote
// one to the old server after the switch, did not complete its cutover,
// or the script noted a problem; else 0.
int PrintCutoverTables(std::istream& in);

}  // namespace pgvalve::bench
