#include "postgres_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>

#include "support.h"

namespace hipp::test {
namespace fs = std::filesystem;

namespace {

int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(s);
  return port;
}

std::string bin_dir() {
  std::string out;
  if (run_command("pg_config --bindir", &out) == 0) {
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (fs::exists(out + "/initdb") && fs::exists(out + "/pg_ctl")) return out;
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec))
    if (fs::exists(e.path() / "bin/initdb") && fs::exists(e.path() / "bin/pg_ctl")) return (e.path() / "bin").string();
  return "";
}

class Server {
 public:
  ~Server() {
    if (started_) pg_ctl("stop -m immediate");
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  std::string url(std::string* why) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (started_) return base_;
    if (!why_.empty()) {
      if (why) *why = why_;
      return "";
    }
    bin_ = bin_dir();
    if (bin_.empty()) return fail("no PostgreSQL server binaries (initdb, pg_ctl): install Debian's postgresql", why);
    char templ[] = "/tmp/hipp-pg.XXXXXX";
    if (!::mkdtemp(templ)) return fail("cannot make a temporary folder", why);
    dir_ = templ;
    as_ = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
    std::string out;
    if (::geteuid() == 0 && run_command("chown postgres " + dir_, &out) != 0)
      return fail("cannot hand the server folder to the postgres user: " + out, why);
    if (run_command(as_ + bin_ + "/initdb -D " + dir_ + "/data -U hipp --auth=trust -E UTF8 --no-sync", &out) != 0)
      return fail("initdb failed: " + out.substr(0, 300), why);
    port_ = free_port();
    if (!start()) return fail("the server did not start (log in " + dir_ + "/log)", why);
    started_ = true;
    // A test program that crashes runs no destructor: a watchdog stops the
    // server and removes its folder once this process is gone.
    run_command("nohup sh -c 'while kill -0 " + std::to_string(::getpid()) + " 2>/dev/null; do sleep 2; done; " + as_ +
                    bin_ + "/pg_ctl -D " + dir_ + "/data stop -m immediate; rm -rf " + dir_ + "' >/dev/null 2>&1 &",
                &out);
    base_ = "postgresql://hipp@127.0.0.1:" + std::to_string(port_) + "/postgres";
    return base_;
  }
  bool restart() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!started_) return false;
    pg_ctl("stop -m fast");
    return start();
  }

 private:
  bool start() {
    return pg_ctl("-o \"-p " + std::to_string(port_) + " -k " + dir_ +
                  " -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" -l " + dir_ + "/log -w start");
  }
  bool pg_ctl(const std::string& args) {
    std::string out;
    return run_command(as_ + bin_ + "/pg_ctl -D " + dir_ + "/data " + args, &out) == 0;
  }
  std::string fail(const std::string& why, std::string* out) {
    why_ = why;
    if (out) *out = why_;
    return "";
  }
  std::mutex mutex_;
  bool started_ = false;
  std::string bin_, dir_, as_, base_, why_;
  int port_ = 0;
};

Server& server() {
  static Server s;
  return s;
}

}  // namespace

std::string postgres_url(std::string* why) { return server().url(why); }

std::string postgres_study_url(const std::string& base, const std::string& extra_params) {
  static std::atomic<int> counter{0};
  return base + "?study=t" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + extra_params;
}

bool restart_postgres() { return server().restart(); }

}  // namespace hipp::test
