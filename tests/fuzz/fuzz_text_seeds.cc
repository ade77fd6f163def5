// Seeds of the text parsers: admin statements, the configuration file, the
// command line and the SCRAM login. Written out by hand rather than made by
// a writer, since these inputs come from people and their tools.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_seeds.h"
#include "tests/fuzz/scram_fuzz_input.h"

namespace pgvalve::fuzz {
namespace {

Input Text(std::string_view text) { return Input(text.begin(), text.end()); }

constexpr std::string_view kVerifier =
    "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs=:"
    "PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0=";

// SASLInitialResponse body: mechanism, NUL, Int32 length, data. `declared`
// overrides the length field.
std::string InitialBody(std::string_view data, std::string_view mechanism = "SCRAM-SHA-256",
                        int64_t declared = -2) {
  std::string body(mechanism);
  body += '\0';
  const auto length = static_cast<uint32_t>(declared == -2 ? static_cast<int64_t>(data.size()) : declared);
  for (int shift = 24; shift >= 0; shift -= 8) body += static_cast<char>((length >> shift) & 0xFF);
  body += data;
  return body;
}

std::string CombinedNonce(std::string_view client_nonce) {
  return std::string(client_nonce) + std::string(kScramFuzzServerNonce);
}

}  // namespace

std::vector<Input> AdminStatementSeeds() {
  std::vector<Input> seeds;
  for (std::string_view statement : {
           "SHOW CLIENTS",
           "show pools;",
           "SHOW STATS; SHOW CONFIG; SHOW VERSION; SHOW HELP; SHOW UPSTREAMS; SHOW DATABASES; SHOW SESSIONS",
           "SHOW RULES; show rules;",
           "SHOW RULES proxy",
           "SHOW BACKENDS orders",
           "DISABLE orders EXCEPT ROLE alice, \"Bob\" REASON 'maintenance ''now'''",
           "ENABLE \"Orders\"\"x\"",
           "PAUSE orders TIMEOUT '1.5 min'",
           "pause orders timeout 30s;",
           "RESUME orders",
           "CANCEL 42",
           "CANCEL BACKEND 12345",
           "TERMINATE DATABASE orders INCLUDING DIRECT",
           "TERMINATE BACKEND 2147483648",
           "KILL DATABASE orders",
           "KILL_CLIENT 7",
           "DRAIN orders GRACE 10s THEN TERMINATE TIMEOUT '60s' INCLUDING DIRECT EXCEPT ROLE ops, backup "
           "NOWAIT DRY RUN",
           "DRAIN orders GRACE 10s GRACE 20s",
           "DRAIN orders THEN WAIT TIMEOUT 250ms",
           "SHOW DRAINS; SHOW DRAIN 3; CANCEL DRAIN 3",
           "CUTOVER app TO green MODE PHYSICAL PROMOTE MAX LAG '16MB' GRACE '5s' THEN TERMINATE "
           "TIMEOUT '60s' ON TIMEOUT ABORT INCLUDING DIRECT NOWAIT DRY RUN",
           "CUTOVER app TO green MODE LOGICAL SYNC SEQUENCES ON TIMEOUT PROCEED MAX LAG '1 GB'",
           "CUTOVER \"*\" TO green PROMOTE PROMOTE; SHOW CUTOVERS; SHOW CUTOVER 2; CANCEL CUTOVER 2",
           "SWITCH app TO green FORCE; SWITCH app TO DEFAULT; SWITCH \"*\" TO \"Blue\"",
           "SET app.query_timeout = '10min' EXCEPT USER replicator, \"Backup\" FORCE",
           "SET \"My DB\".client_idle_timeout TO 0; SET \"*\".query_timeout_grace = 2s",
           "SET app.statement_timeout = '1s'; SET app = 1",
           "RESET app.ALL; RESET \"*\".idle_in_transaction_timeout; SHOW LIMITS",
           "RELOAD",
           "SHUTDOWN FAST",
           "SHUTDOWN SMART;;",
           "-- a comment only\n",
           "SHOW VERSION -- trailing comment\n; RELOAD",
           "SHOW 'unterminated",
           "ENABLE \"unterminated",
           "PAUSE orders TIMEOUT '9999999h'",
           "CANCEL BACKEND 99999999999999999999",
           "DROP TABLE x",
           "SHOW CLIENTS $1",
           "SHOW CLIENTS DATABASE orders STATE active, 'idle in transaction' RUNNING LONGER THAN '10min'",
           "CANCEL DATABASE app STATE active RUNNING LONGER THAN '10min' INCLUDING DIRECT DRY RUN",
           "TERMINATE ALL STATE 'idle in transaction' IN TRANSACTION LONGER THAN '5min' EXCEPT USER "
           "replicator",
           "KILL ALL USER a, \"B\" APPLICATION 'batch\\_%' CLIENT '10.0.0.0/8' CONNECTED LONGER THAN 1h",
           "SHOW CLIENTS CLIENT '::ffff:10.0.0.1/128' IDLE LONGER THAN '0s' CLIENT 'unix'",
           "SHOW CLIENTS APPLICATION '%%%%%%%%%%_' STATE held EXCEPT USER",
       }) {
    seeds.push_back(Text(statement));
  }
  return seeds;
}

std::vector<Input> ConfigFileSeeds() {
  std::vector<Input> seeds;
  const std::string full = std::string(R"(log_level = "info"
[proxy]
listen = ["127.0.0.1:6432", "[::1]:6432"]
unix_socket_dir = "/tmp"
max_client_connections = 1000
workers = 2
startup_timeout = "30s"
hold_timeout = 60000
terminate_wait = "5s"
max_message_size = 1073741824
[[proxy.rules]]
name = "no interns"
databases = ["payroll", "*"]
users = ["intern"]
sources = ["10.0.0.0/8", "::ffff:192.0.2.0/120", "unix"]
tls = "client_cert"
action = "deny"
[[proxy.rules]]
tls = "required"
action = "allow"
[admin]
listen = ["127.0.0.1:6433"]
state_file = "/var/lib/pgvalve/state.json"
[[admin.users]]
name = "admin"
password = "change-me"
[[admin.users]]
name = "watcher"
password = ")") + std::string(kVerifier) + R"("
role = "monitor"
[[admin.rules]]
users = ["admin"]
sources = ["127.0.0.1", "::1"]
action = "allow"
[upstreams.blue]
host = "127.0.0.1"
port = 5432
connect_timeout = "5s"
control_user = "postgres"
control_password = "secret"
control_dbname = "postgres"
[upstreams.green]
host = "/var/run/postgresql"
[databases."*"]
upstream = "blue"
query_timeout = "10min"
query_timeout_except_users = ["replicator"]
query_timeout_grace = "5s"
[databases.orders]
upstream = "green"
idle_in_transaction_timeout = "5m"
client_idle_timeout = 0
)";
  seeds.push_back(Text(full));
  for (std::string_view text : {
           "[upstreams.pg]\nport = 5432\n[databases.\"*\"]\nupstream = \"pg\"\n",
           // Errors at a key: a range, an unknown key, a missing upstream,
           // a bad verifier, a duplicate user.
           "[upstreams.pg]\nport = 70000\n[databases.\"*\"]\nupstream = \"pg\"\n",
           "[proxy]\nlisten = [\"127.0.0.1:6432\"]\nlisten_backlog = 5\n",
           "[databases.app]\nupstream = \"nowhere\"\n",
           "[[admin.users]]\nname = \"a\"\npassword = \"SCRAM-SHA-256$4096:abc$x:y\"\n"
           "[upstreams.pg]\n[databases.\"*\"]\nupstream = \"pg\"\n",
           "[[admin.users]]\nname = \"a\"\npassword = \"x\"\n[[admin.users]]\nname = \"a\"\npassword = \"y\"\n"
           "[upstreams.pg]\n[databases.\"*\"]\nupstream = \"pg\"\n",
           "[upstreams.pg]\ncontrol_password = \"x\"\n[databases.\"*\"]\nupstream = \"pg\"\n",
           "[proxy]\nstartup_timeout = \"0s\"\nhold_timeout = \"2d\"\n",
           "[upstreams.pg]\n[databases.\"*\"]\nupstream = \"pg\"\nquery_timeout = -1\n"
           "client_idle_timeout_except_users = [\"x\"]\n",
           // Access rules: host bits, a missing action, an empty list, a
           // repeated name, an unknown tls value.
           "[[proxy.rules]]\nsources = [\"10.0.0.1/8\"]\naction = \"deny\"\n",
           "[[admin.rules]]\nname = \"x\"\n",
           "[proxy]\nrules = []\n",
           "[[proxy.rules]]\nname = \"a\"\naction = \"allow\"\n[[proxy.rules]]\nname = \"a\"\naction = \"deny\"\n",
           "[[proxy.rules]]\nusers = []\ntls = \"maybe\"\naction = \"allow\"\n",
           // Errors at a line: syntax, a duplicate table, a multi-line
           // string left open.
           "[proxy\nlisten = 1\n",
           "[proxy]\n[proxy]\n",
           "log_level = \"\"\"\nnever closed\n",
           "a = [1, \"mixed\"]\n",
           "x = 1979-05-27T07:32:00Z\ny = 0x7fffffffffffffff\nz = inf\n",
       }) {
    seeds.push_back(Text(text));
  }
  return seeds;
}

std::vector<Input> CommandLineSeeds() {
  using Args = std::initializer_list<std::string_view>;
  std::vector<Input> seeds;
  for (Args args : {
           Args{"--upstream", "127.0.0.1:5432", "--listen", "127.0.0.1:6432"},
           Args{"--upstream=/var/run/postgresql:5432", "--listen=[::1]:6432", "--workers=4"},
           Args{"--config", "/etc/pgvalve.toml", "--admin-user", "ops:pw1:monitor"},
           Args{"--check-config", "pgvalve.toml", "--log-level", "debug"},
           Args{"--upstream", "db:5432", "--admin-user", "a:p4ss:w0rd", "--admin-user=b:x:admin"},
           Args{"--upstream", "db:5432", "--admin-listen", "127.0.0.1:6433", "--admin-unix-socket-dir", "/tmp",
                "--unix-socket-dir", "/tmp", "--state-file", "/tmp/s.json", "--max-client-connections", "10"},
           Args{"--upstream", "db:5432", "--listen", "127.0.0.1:6432", "--admin-listen", "127.0.0.1:6432"},
           Args{"--upstream", "db:5432", "--admin-user", "a:x", "--admin-user", "a:y"},
           Args{"--version", "--help"},
           Args{"-h"},
           Args{"--workers", "--listen"},
           Args{"--workers=2000"},
           Args{"--admin-user", "a:b:c0de:admn"},
           Args{"stray", "-x", "--nope=1"},
           Args{"--config=a", "--check-config=b"},
       }) {
    Input input;
    for (std::string_view arg : args) {
      if (!input.empty()) input.push_back(0);
      input.insert(input.end(), arg.begin(), arg.end());
    }
    seeds.push_back(std::move(input));
  }
  return seeds;
}

std::vector<Input> ScramSeeds() {
  std::vector<Input> seeds;
  const std::string nonce = "rOprNGfwEbeRWgbNEkqO";
  const std::string first = "n,,n=,r=" + nonce;
  const std::string final_without_proof = "c=biws,r=" + CombinedNonce(nonce);
  // A whole exchange with the right proof, for a known and an unknown user,
  // and with "y" (client supports channel binding, server did not offer it).
  seeds.push_back(EncodeScramFuzzInput(kScramAppendProof, InitialBody(first), final_without_proof));
  seeds.push_back(
      EncodeScramFuzzInput(kScramAppendProof | kScramUnknownUser, InitialBody(first), final_without_proof));
  seeds.push_back(EncodeScramFuzzInput(kScramAppendProof, InitialBody("y,,n=alice,r=" + nonce + ",x=ext"),
                                       "c=eSws,r=" + CombinedNonce(nonce)));
  // A wrong proof, and proofs of the wrong size.
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody(first),
                                       final_without_proof + ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody(first), final_without_proof + ",p=" + std::string(4096, 'A')));
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody(first), final_without_proof + ",p=AAAA"));
  // Oversized nonces, as in PgBouncer's 2025 SCRAM fixes: a client nonce far
  // beyond the usual 24 characters, and a final message whose nonce runs on.
  const std::string long_nonce(2048, 'N');
  seeds.push_back(EncodeScramFuzzInput(kScramAppendProof, InitialBody("n,,n=,r=" + long_nonce),
                                       "c=biws,r=" + CombinedNonce(long_nonce)));
  seeds.push_back(EncodeScramFuzzInput(kScramAppendProof, InitialBody(first),
                                       final_without_proof + std::string(2048, 'X')));
  // Lengths that lie: data shorter than declared, a negative length, -1
  // (no initial response), a declared length beyond the message limit.
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody(first, "SCRAM-SHA-256", 4096), ""));
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody(first, "SCRAM-SHA-256", -5), ""));
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody("", "SCRAM-SHA-256", -1), ""));
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody(first, "SCRAM-SHA-256", 0x7fffffff), ""));
  // Refused features and framing: channel binding required, authzid, an
  // unknown mechanism, a mandatory extension, a partial message.
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody("p=tls-server-end-point,,n=,r=" + nonce), ""));
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody("n,a=admin,n=,r=" + nonce), ""));
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody(first, "SCRAM-SHA-256-PLUS"), ""));
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody("n,,m=ext,n=,r=" + nonce), ""));
  seeds.push_back(EncodeScramFuzzInput(0, InitialBody(first).substr(0, 16), ""));
  // Wrong channel binding or nonce in the final message.
  seeds.push_back(EncodeScramFuzzInput(kScramAppendProof, InitialBody(first), "c=eSws,r=" + CombinedNonce(nonce)));
  seeds.push_back(EncodeScramFuzzInput(kScramAppendProof, InitialBody(first), "c=biws,r=" + nonce));
  return seeds;
}

std::vector<Input> HttpRequestSeeds() {
  std::vector<Input> seeds;
  for (std::string_view request : {
           // A scrape as Prometheus sends it, with basic credentials (monitor:secret).
           std::string_view("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9187\r\nUser-Agent: Prometheus/2.42.0\r\n"
                            "Accept: text/plain;version=0.0.4\r\n"
                            "Authorization: Basic bW9uaXRvcjpzZWNyZXQ=\r\n\r\n"),
           std::string_view("GET /readyz HTTP/1.0\r\n\r\n"),
           std::string_view("HEAD /healthz?verbose=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
           std::string_view("POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"),
           std::string_view("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
           std::string_view("GET /metrics HTTP/1.1\r\nAuthorization: basic\t dXNlcjpwYTpzcw==  \r\n\r\n"),
           std::string_view("GET /metrics HTTP/1.1\r\nAuthorization: Basic dXNlcg==\r\n\r\n"),
           std::string_view("GET /metrics HTTP/1.1\r\nAuthorization: Bearer abc.def\r\n\r\n"),
           std::string_view("GET /\xff\xfe\"q\\ HTTP/1.1\r\n\r\n"),
           std::string_view("Basic OnBhc3N3b3Jk"),
       }) {
    seeds.push_back(Text(request));
  }
  return seeds;
}

std::vector<Input> EtcdAnswerSeeds() {
  std::vector<Input> seeds;
  for (std::string_view answer : {
           // As etcd 3.4 wrote them in e2e.etcd: a range, a put, a txn, a
           // lease, a keepalive, an error.
           std::string_view(R"({"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437",)"
                            R"("revision":"12","raft_term":"2"},"kvs":[{"key":"L3QxL2I=","create_revision":"3",)"
                            R"("mod_revision":"3","version":"1","value":"/wAB","lease":"7587862521296402692"}],)"
                            R"("count":"1"})"),
           std::string_view(R"({"header":{"revision":"5"}})"),
           std::string_view(R"({"header":{"revision":"10"},"succeeded":true,"responses":[{"response_put":{}}]})"),
           std::string_view(R"({"header":{"revision":"4"},"ID":"7587862521296402692","TTL":"30"})"),
           std::string_view(R"({"result":{"header":{"revision":"4"},"ID":"7587862521296402692","TTL":"30"}})"),
           std::string_view(R"({"error":"etcdserver: requested lease not found","code":5,)"
                            R"("message":"etcdserver: requested lease not found"})"),
           // A watch's stream as etcd sends it: created, a put, a delete.
           std::string_view(R"({"result":{"header":{"revision":"1"},"created":true}})" "\n"
                            R"({"result":{"header":{"revision":"2"},"events":[{"kv":{"key":"Zm9v",)"
                            R"("create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}}]}})" "\n"
                            R"({"result":{"header":{"revision":"3"},"events":[{"type":"DELETE",)"
                            R"("kv":{"key":"Zm9v","mod_revision":"3"}}]}})" "\n"),
           std::string_view(R"({"result":{"header":{"revision":"9"},"canceled":true,"compact_revision":"5"}})"),
           std::string_view("Zm9vYmFy"),
           std::string_view("/pgvalve/\xff"),
       }) {
    seeds.push_back(Text(answer));
  }
  return seeds;
}

}  // namespace pgvalve::fuzz
