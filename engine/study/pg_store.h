#pragma once
// The study store in a PostgreSQL server (docs/distributed.md): the same
// contract as the SQLite file (study/store.h), for studies that many
// processes on many machines read and write at once. Torch-free.
//
// A study is named by a URL: postgresql://user@host:port/db?study=NAME
// (any other query parameter goes to libpq as a connection option, except
// lease=SECONDS, below). One database holds any number of studies.
//
// Liveness: each open store is an owner with a random token whose
// heartbeat a background connection renews every lease / 4 seconds (the
// lease is 30 s unless the URL says otherwise). A RUNNING trial or a claim
// whose owner has not renewed within its lease belongs to a process that
// is gone, whatever machine it ran on. A store that loses its connection
// (a server restart) reconnects for up to a minute and repeats the
// operation that failed; writes are transactions, so none is half-done.
#include <memory>
#include <string>
#include <vector>

#include "study/store.h"

namespace hipp {

inline constexpr int kPgSchemaVersion = 2;

// Whether `where` names a PostgreSQL study (postgresql:// or postgres://).
bool is_postgresql_url(const std::string& where);
// Whether this build can reach PostgreSQL (built with libpq).
bool postgresql_supported();

// The URL's parts: libpq's connection string without the study and lease
// parameters, the study's name, the lease. Throws hipp::Error naming what is
// missing or malformed.
struct PgStudyUrl {
  std::string conninfo;
  std::string study;
  double lease_seconds = 30;
};
// `need_study` false: the study parameter may be left out (listing).
PgStudyUrl parse_pg_study_url(const std::string& url, bool need_study = true);
// The URL of study `name` in the database `url` names (its study parameter,
// if any, replaced; the name percent-encoded).
std::string pg_study_url(const std::string& url, const std::string& name);
// The URL with any password left out, for messages.
std::string redacted_url(const std::string& url);

// Creates study NAME in the database (the tables too, the first time);
// refuses a name that exists.
std::unique_ptr<StudyStore> create_pg_study(const std::string& url, const StudyRecord& study);
// The studies the URL's database holds, by name (none when it holds no
// hipp-prune tables); the URL's study parameter may be left out.
std::vector<std::string> pg_study_names(const std::string& url);
// Removes study NAME and everything it holds (a failed copy's remains).
void drop_pg_study(const std::string& url);
// Whether the database holds study NAME (false when it holds no studies).
bool pg_study_exists(const std::string& url);
// Opens study NAME; `read_only` never writes (no recovery, no heartbeat,
// every write refused). A database whose schema is newer than this
// program's is refused.
std::unique_ptr<StudyStore> open_pg_study(const std::string& url, bool read_only = false);

}  // namespace hipp
