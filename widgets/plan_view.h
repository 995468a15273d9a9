#pragma once
// The plan and job value types (plan_types.h) as Qt's queued signals carry
// them, and the names the window gives the jobs. Torch-free.
#include <QMetaType>
#include <QString>

#include "plan_types.h"

namespace hipp::gui {

// The name a user reads ("Train policy").
inline QString job_name(JobKind kind) {
  static const char* names[] = {"Open study",       "Build demo",   "New study",     "Train policy",
                                "Baseline",         "Query",        "Evaluate plan", "Evaluate on full set",
                                "Export blueprint", "Export model", "Fine-tune",     "Curve"};
  return names[static_cast<int>(kind)];
}

}  // namespace hipp::gui

Q_DECLARE_METATYPE(hipp::gui::PlanView)
Q_DECLARE_METATYPE(hipp::gui::StudySummary)
Q_DECLARE_METATYPE(hipp::gui::JobProgress)
Q_DECLARE_METATYPE(hipp::gui::JobKind)
