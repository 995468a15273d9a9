#pragma once
// A PostgreSQL server of the tests' own: initdb and pg_ctl from Debian's
// postgresql package in a temporary folder (as the postgres user when the
// tests run as root, since the server refuses root), on a free port of
// 127.0.0.1, trust authentication, fsync off. Started on first use, stopped
// and removed when the test program exits.
#include <string>

namespace hipp::test {

// The server's base URL (postgresql://hipp@127.0.0.1:PORT/postgres), or ""
// with `why` saying what is missing when no server can be started here.
std::string postgres_url(std::string* why);
// A study URL on that server with a name no other call returns.
std::string postgres_study_url(const std::string& base, const std::string& extra_params = "");
// Stops the server (fast shutdown: connections are cut) and starts it again on the same port.
bool restart_postgres();

}  // namespace hipp::test
