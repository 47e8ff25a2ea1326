// fedq serve and fedq worker as separate processes on 127.0.0.1, started
// by /bin/sh the way a user starts them: joins, refusals, a worker killed
// with SIGKILL mid-round and started again. Every wait is bounded.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/cli/workspace.hpp"

using namespace fedq::cli_test;
using nlohmann::json;

namespace {

/// sh: starts `fedq serve ARGS` in the background (log serve.log, pid $S)
/// and waits until it prints its port ($P).
std::string start_serve(const std::string& args) {
  return "build/fedq serve configs/quickstart.toml --listen 127.0.0.1:0 " + args +
         " > serve.log 2>&1 & S=$!\n"
         "for i in $(seq 300); do P=$(sed -n 's/.*listening on 127.0.0.1:\\([0-9]*\\).*/\\1/p' serve.log); "
         "[ -n \"$P\" ] && break; sleep 0.1; done\n"
         "[ -n \"$P\" ] || { cat serve.log; exit 99; }\n";
}

/// sh: a worker hosting `clients` in the background, its log in `log`.
std::string worker(const std::string& clients, const std::string& log, const std::string& extra = "") {
  return "build/fedq worker --connect 127.0.0.1:$P --clients " + clients + " --threads 1 " + extra +
         " > " + log + " 2>&1 & ";
}

/// sh: waits for serve (bounded by `limit` s) and prints its exit code as serve=N
/// (and the end of its log when N is not 0).
std::string wait_serve(int limit) {
  return "for i in $(seq " + std::to_string(limit * 10) +
         "); do kill -0 $S 2>/dev/null || break; sleep 0.1; done\n"
         "kill -0 $S 2>/dev/null && { kill -9 $S; echo serve=timeout; }\n"
         "wait $S; rc=$?; echo serve=$rc; [ $rc = 0 ] || tail -40 serve.log\nwait\n";
}

void check_contains(const std::string& text, const std::string& part) {
  INFO(text);
  CHECK(text.find(part) != std::string::npos);
}

} // namespace

TEST_CASE("fedq serve with two fedq workers (one of them the slow tier on 1 thread) reaches the target with late updates merged, and a wrong or missing token is refused") {
  workspace ws("serve-two-workers");
  ws.write("token", "0123456789abcdef0123456789abcdef\n");
  ws.write("other", "fedcba9876543210fedcba9876543210\n");
  auto r = ws.run("chmod 600 token other\n" +
                  start_serve("--out runs/net --token-file token --set run.rounds=40 "
                              "--set run.stop_at_target=true --wait-s 60") +
                  "build/fedq worker --connect 127.0.0.1:$P --clients 0-3 --token-file other; echo wrong=$?\n"
                  "build/fedq worker --connect 127.0.0.1:$P --clients 0-3; echo none=$?\n" +
                  worker("0-3", "w1.log", "--token-file token") +
                  "build/fedq worker --connect 127.0.0.1:$P --clients 4-5 --threads 2 --token-file token > w2.log 2>&1 &\n" +
                  wait_serve(240) + "cat serve.log; echo; cat w1.log w2.log");
  INFO(r.all());
  REQUIRE(r.rc == 0);
  CHECK(r.out.find("wrong=1") != std::string::npos);
  CHECK(r.out.find("none=1") != std::string::npos);
  // another secret: the worker finds the server's proof wrong and stops; none: the server refuses it
  check_contains(r.err, "did not prove that it holds the token");
  check_contains(r.err, "wrong token: the worker's --token-file does not hold the server's secret");
  check_contains(r.out, "refused a connection from 127.0.0.1:");
  CHECK(r.out.find("serve=0") != std::string::npos);
  CHECK(r.out.find("the server said bye") != std::string::npos);
  auto summary = json::parse(read_text(ws / "runs/net/summary.json"));
  CHECK(summary.at("clock") == "wall");
  CHECK(summary.at("time_to_target_s").get<double>() > 0);
  CHECK(summary.at("late_merged").get<int>() >= 1);
  CHECK(summary.at("failed").get<int>() == 0);
  CHECK(fs::exists(ws / "runs/net/adapter/adapter_model.safetensors"));
}

TEST_CASE("a worker killed with SIGKILL mid-round: its tasks fail as 'worker lost', the sync rounds go on, and the restarted worker rejoins") {
  workspace ws("serve-kill-worker");
  auto r = ws.run(start_serve("--out runs/net --set run.rounds=6 --set round.mode=sync "
                              "--set scheduler.policy=fixed --set scheduler.local_steps=30 --wait-s 60") +
                  worker("0-3", "w1.log") + "W1=$!\n" + worker("4-5", "w2.log") + "\n"
                  "for i in $(seq 600); do grep -q '^round   1/' serve.log && break; sleep 0.1; done\n"
                  "sleep 0.5; kill -9 $W1; sleep 1\n" +
                  worker("0-3", "w3.log") + "\n" + wait_serve(240) + "cat serve.log w3.log");
  INFO(r.all());
  REQUIRE(r.rc == 0);
  CHECK(r.out.find("serve=0") != std::string::npos);
  check_contains(r.out, "lost (its connection closed): clients 0-3 are offline");
  auto joins = 0; // the first worker's join and the restarted one's
  for (auto at = r.out.find("joined with clients 0-3\n"); at != std::string::npos;
       at = r.out.find("joined with clients 0-3\n", at + 1))
    ++joins;
  CHECK(joins == 2);
  auto summary = json::parse(read_text(ws / "runs/net/summary.json"));
  CHECK(summary.at("rounds") == 6);
  CHECK(summary.at("failed").get<int>() >= 1);
  // every failure says why, and after the rejoin clients 0-3 train again
  auto rounds = rounds_of(ws, "runs/net");
  REQUIRE(rounds.size() == 6);
  int lost = 0;
  for (const auto& round : rounds)
    for (const auto& p : round.at("participants"))
      if (p.contains("error")) {
        CHECK(p.at("error").get<std::string>().find("worker lost") != std::string::npos);
        ++lost;
      }
  CHECK(lost == summary.at("failed").get<int>());
  bool back = false;
  for (const auto& p : rounds.back().at("participants"))
    back = back || (p.at("client") == 0 && p.at("on_time") == true);
  CHECK(back);
}

TEST_CASE("fedq serve and fedq worker refuse bad input with exit 2, and serve gives up on missing workers with exit 1") {
  workspace ws("serve-bad-input");
  ws.write("open-token", "0123456789abcdef0123456789abcdef\n");
  auto r = ws.run("chmod 644 open-token; build/fedq serve configs/quickstart.toml --listen 0.0.0.0:0");
  CHECK(r.rc == 2);
  check_contains(r.err, "give --token-file");
  r = ws.run("build/fedq serve configs/quickstart.toml --listen 127.0.0.1:0 --token-file open-token");
  CHECK(r.rc == 2);
  check_contains(r.err, "chmod 600 open-token");
  r = ws.run("build/fedq worker --connect 127.0.0.1 --clients 0");
  CHECK(r.rc == 2);
  check_contains(r.err, "HOST:PORT");
  r = ws.run("build/fedq worker --connect 127.0.0.1:1 --clients 3-1");
  CHECK(r.rc == 2);
  check_contains(r.err, "backwards");
  r = ws.run("build/fedq worker --connect 127.0.0.1:1 --clients 0 --device cuda:0");
  CHECK(r.rc == 2);  // Debian's libtorch has no CUDA; with a GPU build it still trains on the CPU only
  check_contains(r.err, "--device cuda:0: ");
  check_contains(r.err, "run the worker with --device cpu");
  r = ws.run("build/fedq worker --connect 127.0.0.1:1 --clients 0 --device tpu");
  CHECK(r.rc == 2);
  check_contains(r.err, "--device tpu: give cpu");
  r = ws.run("build/fedq serve configs/quickstart.toml --listen 127.0.0.1:0 --wait-s 1 --out runs/w");
  CHECK(r.rc == 1);
  check_contains(r.err, "clients 0-5 have no worker; start one with: fedq worker --connect 127.0.0.1:");
  r = ws.run(start_serve("--out runs/x --wait-s 20") +
             "build/fedq worker --connect 127.0.0.1:$P --clients 0-6; echo worker=$?\n"
             "build/fedq worker --connect 127.0.0.1:$P --clients 0-5 -q > w.log 2>&1 &\n" + wait_serve(120));
  check_contains(r.out, "worker=1");
  check_contains(r.err, "client 6 does not exist: the run has 6 clients (0-5)");
  check_contains(r.out, "serve=0");
}

TEST_CASE("a few thousand random and truncated frames sent to fedq serve's port during a run: the run completes") {
  workspace ws("serve-flood");
  ws.write("flood.py", R"(import os, random, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
random.seed(7)
sent = 0
for i in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        data = os.urandom(random.choice([0, 1, 3, 8, 31, 40, 72, 500, 4096]))
        if i % 3 == 0:  # a frame header claiming 4 GB, then silence
            data = bytes(4) + b"\xff\xff\xff\xff" + os.urandom(24)
        if i % 5 == 0:  # the preamble's magic, truncated
            data = b"FEDQ" + os.urandom(random.randrange(0, 36))
        s.sendall(data)
        s.close()
        sent += 1
    except OSError:
        time.sleep(0.01)
print("flood sent", sent)
)");
  auto r = ws.run(start_serve("--out runs/net --set run.rounds=10 --wait-s 60") +
                  "python3 flood.py $P 3000 > flood.log 2>&1 &\n" + worker("0-3", "w1.log") +
                  worker("4-5", "w2.log") + "\n" + wait_serve(300) + "cat flood.log");
  INFO(r.all());
  REQUIRE(r.rc == 0);
  check_contains(r.out, "serve=0");
  check_contains(r.out, "flood sent");
  auto summary = json::parse(read_text(ws / "runs/net/summary.json"));
  CHECK(summary.at("rounds") == 10);
}

TEST_CASE("with TLS on, workers with certificates of the CA run the whole run, and another CA's certificate or a worker without TLS is refused") {
  workspace ws("serve-tls");
  // the README's commands: a CA, a server certificate naming the host, a worker certificate
  auto certs = ws.run(
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 365 -subj '/CN=fedq CA' 2>/dev/null &&\n"
    "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=fedq server' 2>/dev/null &&\n"
    "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > server.ext &&\n"
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 365 -extfile server.ext 2>/dev/null &&\n"
    "openssl req -newkey rsa:2048 -nodes -keyout worker.key -out worker.csr -subj '/CN=fedq worker' 2>/dev/null &&\n"
    "openssl x509 -req -in worker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out worker.pem -days 365 2>/dev/null &&\n"
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.pem -days 365 -subj '/CN=rogue' 2>/dev/null");
  REQUIRE(certs.rc == 0);
  const std::string tls = "--tls-cert worker.pem --tls-key worker.key --tls-ca ca.pem";
  auto r = ws.run(start_serve("--out runs/tls --set run.rounds=4 --wait-s 60 --tls-cert server.pem "
                              "--tls-key server.key --tls-ca ca.pem") +
                  "build/fedq worker --connect 127.0.0.1:$P --clients 0-3 --tls-cert rogue.pem "
                  "--tls-key rogue.key --tls-ca ca.pem; echo rogue=$?\n"
                  "build/fedq worker --connect 127.0.0.1:$P --clients 0-3 --wait-s 2; echo plain=$?\n" +
                  worker("0-3", "w1.log", tls) + worker("4-5", "w2.log", tls) + "\n" +
                  wait_serve(240) + "cat serve.log");
  INFO(r.all());
  REQUIRE(r.rc == 0);
  check_contains(r.out, "rogue=1");
  check_contains(r.out, "plain=1");
  check_contains(r.err, "the server refused this worker's certificate");
  check_contains(r.err, "give this worker --tls-cert, --tls-key and --tls-ca");
  check_contains(r.out, "refused a connection from 127.0.0.1:");
  check_contains(r.out, "over TLS with a certificate of the CA");
  check_contains(r.out, "serve=0");
  auto summary = json::parse(read_text(ws / "runs/tls/summary.json"));
  CHECK(summary.at("rounds") == 4);
}

TEST_CASE("a worker's own --data file becomes its client's shard: partition.json has its counts, and the server never opens the file") {
  workspace ws("serve-local-data");
  ws.glue_slice("glue-slice", 300, 60);
  // 41 rows of the worker's own file, kept in a folder only the worker is told of
  REQUIRE(ws.run("mkdir -p worker-only && head -42 glue-slice/SST-2/train.tsv > worker-only/mine.tsv").rc == 0);
  auto r = ws.run(
    start_serve("--out runs/local --data-dir glue-slice --set data.task=sst2 --set run.rounds=2 "
                "--set data.min_samples=4 --wait-s 60") +
    worker("0-4", "w1.log", "--data-dir glue-slice") +
    worker("5", "w2.log", "--data-dir glue-slice --data worker-only/mine.tsv") + "\n" +
    wait_serve(240) + "cat serve.log w2.log");
  INFO(r.all());
  REQUIRE(r.rc == 0);
  check_contains(r.out, "serve=0");
  check_contains(r.out, "client 5 trains on its worker's own file (33 training, 8 held-out examples)");
  auto partition = json::parse(read_text(ws / "runs/local/partition.json"));
  const auto& c5 = partition.at("clients").at(5);
  CHECK(c5.at("train") == 33);
  CHECK(c5.at("test") == 8);
  CHECK(c5.at("source").get<std::string>().find("never read it") != std::string::npos);
  auto labels = c5.at("train_labels");
  CHECK(labels.at(0).get<int>() + labels.at(1).get<int>() == 33);
  // the server was told neither the file's name nor its folder
  CHECK(read_text(ws / "runs/local/config.toml").find("worker-only") == std::string::npos);
  auto summary = json::parse(read_text(ws / "runs/local/summary.json"));
  CHECK(summary.at("rounds") == 2);
}
