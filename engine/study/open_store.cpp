#include <filesystem>

#include "study/pg_store.h"
#include "study/store.h"

namespace hipp {

std::unique_ptr<StudyStore> create_study_store(const std::string& where, const StudyRecord& study) {
  if (is_postgresql_url(where)) return create_pg_study(where, study);
  return create_sqlite_study(where, study);
}

std::unique_ptr<StudyStore> open_study_store(const std::string& where, bool read_only) {
  if (is_postgresql_url(where)) return open_pg_study(where, read_only);
  return open_sqlite_study(where, read_only);
}

bool study_store_exists(const std::string& where) {
  if (is_postgresql_url(where)) return pg_study_exists(where);
  return std::filesystem::exists(where);
}

}  // namespace hipp
