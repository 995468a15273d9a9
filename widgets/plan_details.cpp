#include "plan_details.h"

#include <QGridLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace hipp::gui {

namespace {

QString cell(double v, int decimals = 3) { return std::isnan(v) ? QString("-") : QString::number(v, 'f', decimals); }

}  // namespace

PlanDetails::PlanDetails(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  title_ = new QLabel("<b>SELECTED PLAN</b>");
  layout->addWidget(title_);
  summary_ = new QLabel("click a point of the cloud");
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(summary_);
  bars_ = new QCustomPlot;
  bars_->setMinimumHeight(150);
  bars_->setAccessibleName("layer allocation of the selected plan");
  bars_->yAxis->setRange(0, 1.05);
  bars_->yAxis->setLabel("kept ratio");
  bars_->xAxis->setLabel("decoder layer");
  auto* bars = new QCPBars(bars_->xAxis, bars_->yAxis);
  bars->setName("kept ratio");
  bars->setBrush(QColor(70, 130, 180, 170));
  auto* visual = bars_->addGraph();
  visual->setName("visual sensitivity");
  visual->setPen(QPen(QColor(220, 110, 0), 2));
  visual->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
  layout->addWidget(bars_);
  auto* key = new QLabel(
      "<span style='color:#4682b4'>&#9632;</span> kept ratio &nbsp; "
      "<span style='color:#dc6e00'>&#9679;&#8212;</span> visual sensitivity");
  layout->addWidget(key);
  table_ = new QTableWidget;
  table_->setColumnCount(4);
  // Numbers are never elided: their columns fit their contents, the labels
  // take what is left (a narrow panel scrolls sideways instead).
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  table_->horizontalHeader()->setMinimumSectionSize(40);
  table_->verticalHeader()->setDefaultSectionSize(20);
  table_->verticalHeader()->setVisible(false);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setMinimumHeight(200);
  table_->setAccessibleName("metrics of the selected plan beside the dense model");
  layout->addWidget(table_, 1);
  auto* actions = new QGridLayout;
  export_blueprint_ = new QPushButton("Export blueprint");
  export_model_ = new QPushButton("Export model");
  finetune_ = new QPushButton("Fine-tune");
  evaluate_full_ = new QPushButton("Evaluate on full set");
  export_blueprint_->setToolTip("Write the plan as a blueprint JSON (Ctrl+E)");
  export_model_->setToolTip("Write the pruned model in the Hugging Face layout");
  finetune_->setToolTip("Recover the pruned model with LoRA; the result joins the cloud as a child point");
  evaluate_full_->setToolTip("Score the plan on the full test sets");
  actions->addWidget(export_blueprint_, 0, 0);
  actions->addWidget(export_model_, 0, 1);
  actions->addWidget(finetune_, 1, 0);
  actions->addWidget(evaluate_full_, 1, 1);
  layout->addLayout(actions);
  connect(export_blueprint_, &QPushButton::clicked, this, [this] {
    if (has_plan_) emit exportBlueprintRequested(plan_.trial);
  });
  connect(export_model_, &QPushButton::clicked, this, [this] {
    if (has_plan_) emit exportModelRequested(plan_.trial);
  });
  connect(finetune_, &QPushButton::clicked, this, [this] {
    if (has_plan_) emit finetuneRequested(plan_.trial);
  });
  connect(evaluate_full_, &QPushButton::clicked, this, [this] {
    if (has_plan_) emit evaluateFullRequested(plan_.trial);
  });
  clear();
}

void PlanDetails::setVisualSensitivity(std::vector<double> per_layer) {
  visual_ = std::move(per_layer);
  drawBars();
}

void PlanDetails::setDense(const nlohmann::json& dense) { dense_ = dense; }

void PlanDetails::clear() {
  has_plan_ = false;
  title_->setText("<b>SELECTED PLAN</b>");
  summary_->setText("click a point of the cloud");
  table_->setRowCount(0);
  for (auto* b : {export_blueprint_, export_model_, finetune_, evaluate_full_}) b->setEnabled(false);
  drawBars();
}

void PlanDetails::showPlan(const PlanView& plan) {
  plan_ = plan;
  has_plan_ = true;
  title_->setText(QString("<b>SELECTED PLAN  #%1</b>").arg(plan.trial));
  QString text = QString("origin: %1").arg(QString::fromStdString(plan.origin));
  if (plan.preference)
    text += QString("   w = %1 / %2 / %3")
                .arg((*plan.preference)[0], 0, 'f', 2)
                .arg((*plan.preference)[1], 0, 'f', 2)
                .arg((*plan.preference)[2], 0, 'f', 2);
  text += QString("\ns = %1 of the prunable parameters removed").arg(plan.sparsity, 0, 'f', 3);
  if (plan.parent) {
    text += QString("\nfine-tune of trial %1").arg(*plan.parent);
    if (plan.details.contains("steps")) text += QString(", %1 steps").arg(plan.details["steps"].get<int>());
  }
  text += QString("\nscored on the %1 %2")
              .arg(subset_name(plan.subset))
              .arg(plan.subset == Subset::Full ? "test sets" : "subset");
  summary_->setText(text);
  const bool is_trial = plan.trial > 0;
  export_blueprint_->setEnabled(is_trial);
  export_model_->setEnabled(is_trial);
  finetune_->setEnabled(is_trial && !plan.parent);
  evaluate_full_->setEnabled(is_trial && !plan.parent && plan.subset != Subset::Full);
  fillTable();
  drawBars();
}

void PlanDetails::fillTable() {
  table_->clear();
  table_->setHorizontalHeaderLabels({"metric", "this plan", "dense", "change"});
  std::vector<std::pair<QString, std::vector<const char*>>> rows;
  const std::pair<const char*, const char*> splits[] = {{"random", "rnd"}, {"popular", "pop"}, {"adversarial", "adv"}};
  const std::pair<const char*, const char*> metrics[] = {
      {"f1", "F1"}, {"accuracy", "acc"}, {"precision", "prec"}, {"recall", "rec"}, {"yes_ratio", "yes"}};
  for (const auto& [split, short_split] : splits)
    for (const auto& [m, short_m] : metrics)
      rows.push_back({QString("POPE %1 %2").arg(short_split, short_m), {"pope", split, m}});
  rows.push_back({"POPE mean F1", {"pope_mean_f1"}});
  rows.push_back({"ScienceQA all", {"scienceqa", "accuracy"}});
  rows.push_back({"ScienceQA IMG", {"scienceqa", "image_accuracy"}});
  rows.push_back({"ScienceQA no image", {"scienceqa", "no_image_accuracy"}});
  rows.push_back({"LM parameters (M)", {"language_params"}});
  rows.push_back({"decoder GFLOPs", {"decoder_flops"}});
  rows.push_back({"latency (ms)", {"latency_ms"}});
  table_->setRowCount(static_cast<int>(rows.size()));
  const nlohmann::json raw = plan_.metrics ? plan_.metrics->raw : nlohmann::json::object();
  const char* subset = subset_name(plan_.subset);
  const nlohmann::json dense = dense_.contains(subset) ? dense_[subset] : nlohmann::json::object();
  for (int r = 0; r < static_cast<int>(rows.size()); ++r) {
    const auto& [label, path] = rows[static_cast<size_t>(r)];
    auto get = [&](const nlohmann::json& j) {
      const nlohmann::json* at = &j;
      for (const char* key : path) {
        if (!at->is_object() || !at->contains(key)) return std::nan("");
        at = &(*at)[key];
      }
      return at->is_number() ? at->get<double>() : std::nan("");
    };
    double v = get(raw), d = get(dense);
    // The dense model's latency is measured beside each plan's, and kept in the plan's metrics.
    if (label.startsWith("latency"))
      d = raw.contains("dense_latency_ms") ? raw["dense_latency_ms"].get<double>() : std::nan("");
    if (label.startsWith("LM parameters")) v /= 1e6, d /= 1e6;
    if (label.startsWith("decoder GFLOPs")) v /= 1e9, d /= 1e9;
    table_->setItem(r, 0, new QTableWidgetItem(label));
    table_->setItem(r, 1, new QTableWidgetItem(cell(v)));
    table_->setItem(r, 2, new QTableWidgetItem(cell(d)));
    table_->setItem(
        r, 3, new QTableWidgetItem(std::isnan(v) || std::isnan(d) ? QString("-") : QString::number(v - d, 'f', 3)));
  }
}

void PlanDetails::drawBars() {
  auto* bars = static_cast<QCPBars*>(bars_->plottable(0));
  auto* visual = bars_->graph(0);
  QVector<double> keys, kept, vk, vv;
  if (has_plan_)
    for (size_t l = 0; l < plan_.kept_ratio.size(); ++l) keys << static_cast<double>(l), kept << plan_.kept_ratio[l];
  for (size_t l = 0; l < visual_.size(); ++l) vk << static_cast<double>(l), vv << visual_[l];
  bars->setData(keys, kept);
  visual->setData(vk, vv);
  // What the plot shows, in words (a screen reader cannot read bars).
  QStringList ratios, sensitivity;
  for (double v : kept) ratios << QString::number(v, 'f', 2);
  for (double v : vv) sensitivity << QString::number(v, 'f', 2);
  bars_->setAccessibleDescription(
      has_plan_ ? QString("kept ratio per decoder layer: %1; visual sensitivity: %2")
                      .arg(ratios.join(", "), sensitivity.isEmpty() ? QString("not measured") : sensitivity.join(", "))
                : QString("no plan selected"));
  const double n = static_cast<double>(std::max(keys.size(), vk.size()));
  bars_->xAxis->setRange(-0.6, std::max(1.0, n) - 0.4);
  bars_->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace hipp::gui
