#pragma once
// Two plans side by side: sparsity, POPE and ScienceQA metrics and each
// decoder layer's removed share, with the difference (B - A). The explorer
// opens it on Ctrl+click: A is the selected plan, B the one clicked.
#include <QString>
#include <QWidget>

#include "plan_view.h"

class QLabel;
class QTableWidget;

namespace hipp::gui {

struct ComparisonRow {
  QString label;
  double a = 0, b = 0;  // NaN where a plan has no value
};

// The rows the comparison shows, in order: sparsity, the metrics both plans
// may have, then the layers (the longer plan's count).
std::vector<ComparisonRow> compare_plans(const PlanView& a, const PlanView& b);

class PlanCompare : public QWidget {
  Q_OBJECT
 public:
  explicit PlanCompare(QWidget* parent = nullptr);
  void setPlans(const PlanView& a, const PlanView& b);
  QTableWidget* table() const { return table_; }

 private:
  QLabel* title_ = nullptr;
  QTableWidget* table_ = nullptr;
};

}  // namespace hipp::gui
