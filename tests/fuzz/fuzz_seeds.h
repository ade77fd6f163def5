#pragma once
// Valid inputs for each fuzz entry point, generated with the codec's own
// writers: the starting points of fuzz_replay_test's truncations and
// mutations, and the seed corpus that fuzz_seed_corpus writes for libFuzzer.

#include <cstdint>
#include <vector>

namespace pgvalve::fuzz {

using Input = std::vector<uint8_t>;

// Whole startup-family packets, length field included.
std::vector<Input> StartupPacketSeeds();
// A selector byte (the tag) followed by a body, as fuzz_backend_messages
// expects.
std::vector<Input> BackendMessageSeeds();
// Control bytes and a message stream, as message_scanner_fuzz_input.h lays
// them out.
std::vector<Input> MessageScannerSeeds();

}  // namespace pgvalve::fuzz
