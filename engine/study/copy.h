#pragma once
// A study moved between stores (study copy SRC DST: a SQLite file to a
// PostgreSQL server and back). Torch-free.
#include <functional>
#include <string>

#include "study/store.h"

namespace hipp {

struct StudyCopyCounts {
  int plans = 0, trials = 0, layer_states = 0, blobs = 0;
  int running_left_out = 0;  // trials still running in the source are not copied
};

// Copies every plan, finished trial (times, metrics, details kept; parents
// and a fine-tune's parent_trial renumbered), layer-state entry and blob of
// `from` into `to`, which holds the same study record and nothing else.
StudyCopyCounts copy_study_contents(const StudyStore& from, StudyStore& to,
                                    const std::function<void(int done, int total)>& progress = {});

// Creates `to` (a file or a postgresql:// URL, refused when it exists) with
// `from`'s record and contents; on failure nothing of `to` is left.
StudyCopyCounts copy_study(const std::string& from, const std::string& to,
                           const std::function<void(int done, int total)>& progress = {});

}  // namespace hipp
