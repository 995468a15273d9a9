#include "plan_compare.h"

#include <cmath>

#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>

#include "study/cloud.h"

namespace hipp::gui {

namespace {

double metric(const PlanView& plan, CloudAxis axis) {
  if (!plan.metrics) return std::nan("");
  Trial t;
  t.metrics = plan.metrics;
  return axis_value(t, axis).value_or(std::nan(""));
}

QString cell(double v) { return std::isnan(v) ? QString("-") : QString::number(v, 'f', 3); }

QString plan_name(const PlanView& p) {
  return QString("trial %1 (%2)").arg(p.trial).arg(QString::fromStdString(p.origin));
}

}  // namespace

std::vector<ComparisonRow> compare_plans(const PlanView& a, const PlanView& b) {
  std::vector<ComparisonRow> rows;
  rows.push_back({"sparsity", a.sparsity, b.sparsity});
  const std::pair<const char*, CloudAxis> metrics[] = {
      {"POPE mean F1", CloudAxis::PopeMeanF1},       {"POPE random F1", CloudAxis::PopeF1Random},
      {"POPE popular F1", CloudAxis::PopeF1Popular}, {"POPE adversarial F1", CloudAxis::PopeF1Adversarial},
      {"POPE yes-ratio", CloudAxis::PopeYesRatio},   {"ScienceQA", CloudAxis::ScienceQa},
      {"ScienceQA IMG", CloudAxis::ScienceQaImage},  {"ScienceQA no image", CloudAxis::ScienceQaNoImage},
      {"robustness", CloudAxis::Robustness},         {"utility", CloudAxis::Utility}};
  for (const auto& [label, axis] : metrics) rows.push_back({label, metric(a, axis), metric(b, axis)});
  const size_t layers = std::max(a.kept_ratio.size(), b.kept_ratio.size());
  for (size_t l = 0; l < layers; ++l)
    rows.push_back({QString("layer %1 removed").arg(l), l < a.kept_ratio.size() ? 1 - a.kept_ratio[l] : std::nan(""),
                    l < b.kept_ratio.size() ? 1 - b.kept_ratio[l] : std::nan("")});
  return rows;
}

PlanCompare::PlanCompare(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  title_ = new QLabel;
  title_->setWordWrap(true);
  layout->addWidget(title_);
  table_ = new QTableWidget;
  table_->setColumnCount(4);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  table_->verticalHeader()->setVisible(false);
  table_->verticalHeader()->setDefaultSectionSize(20);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setAccessibleName("plan comparison");
  layout->addWidget(table_, 1);
}

void PlanCompare::setPlans(const PlanView& a, const PlanView& b) {
  title_->setText(QString("<b>A</b>: %1 &nbsp; <b>B</b>: %2").arg(plan_name(a), plan_name(b)));
  const auto rows = compare_plans(a, b);
  table_->clear();
  table_->setHorizontalHeaderLabels({"", "A", "B", "B - A"});
  table_->setRowCount(static_cast<int>(rows.size()));
  for (int r = 0; r < static_cast<int>(rows.size()); ++r) {
    const auto& row = rows[static_cast<size_t>(r)];
    const double d = row.b - row.a;
    table_->setItem(r, 0, new QTableWidgetItem(row.label));
    table_->setItem(r, 1, new QTableWidgetItem(cell(row.a)));
    table_->setItem(r, 2, new QTableWidgetItem(cell(row.b)));
    auto* diff =
        new QTableWidgetItem(std::isnan(d) ? QString("-") : QString("%1%2").arg(d > 0 ? "+" : "").arg(d, 0, 'f', 3));
    // Metrics: green where B is better, red where worse (the shares removed are not judged).
    const bool judged = r > 0 && !row.label.endsWith("removed") && row.label != "POPE yes-ratio";
    if (judged && !std::isnan(d) && std::abs(d) >= 0.0005)
      diff->setForeground(d > 0 ? QColor(0, 120, 0) : QColor(170, 0, 0));
    table_->setItem(r, 3, diff);
  }
}

}  // namespace hipp::gui
