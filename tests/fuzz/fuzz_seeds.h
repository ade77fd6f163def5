#pragma once
// Inputs for each fuzz entry point, mostly valid ones (the codec's made
// with its own writers): the starting points of fuzz_replay_test's truncations and
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

// In fuzz_text_seeds.cc:
// Admin console queries.
std::vector<Input> AdminStatementSeeds();
// pgvalve.toml texts.
std::vector<Input> ConfigFileSeeds();
// Command-line arguments, separated by NUL bytes.
std::vector<Input> CommandLineSeeds();
// Both SCRAM messages of a login, as scram_fuzz_input.h lays them out.
std::vector<Input> ScramSeeds();
// HTTP request heads, as the HTTP endpoint reads them.
std::vector<Input> HttpRequestSeeds();
// etcd's answers through its JSON gateway, as the fleet reads them.
std::vector<Input> EtcdAnswerSeeds();

}  // namespace pgvalve::fuzz
