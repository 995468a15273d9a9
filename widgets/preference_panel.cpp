#include "preference_panel.h"

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QPushButton>
#include <QSlider>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include "study/cloud.h"

namespace hipp::gui {

namespace {
constexpr int kSteps = 1000;  // slider resolution
const char* kNames[3] = {"Robustness", "Utility", "Compression"};
}  // namespace

PreferencePanel::PreferencePanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  auto* title = new QLabel("<b>PREFERENCE</b>");
  layout->addWidget(title);
  for (int i = 0; i < 3; ++i) {
    auto* name = new QLabel(kNames[i]);
    auto* slider = new QSlider(Qt::Horizontal);
    slider->setRange(0, kSteps);
    slider->setObjectName(QString("slider_%1").arg(QString(kNames[i]).toLower()));
    slider->setToolTip(
        QString("Weight of %1 in the policy's preference (the three sum to 1)").arg(QString(kNames[i]).toLower()));
    slider->setAccessibleName(QString("%1 weight").arg(QString(kNames[i]).toLower()));
    auto* value = new QLabel;
    value->setMinimumWidth(40);
    auto* row = new QHBoxLayout;
    row->addWidget(slider, 1);
    row->addWidget(value);
    layout->addWidget(name);
    layout->addLayout(row);
    sliders_[static_cast<size_t>(i)] = slider;
    values_[static_cast<size_t>(i)] = value;
    connect(slider, &QSlider::valueChanged, this, [this, i](int v) { moved(i, v); });
  }
  auto* fixed = new QHBoxLayout;
  fix_ = new QCheckBox("fix sparsity");
  sparsity_ = new QDoubleSpinBox;
  sparsity_->setRange(0.05, 0.9);
  sparsity_->setSingleStep(0.05);
  sparsity_->setDecimals(2);
  sparsity_->setValue(0.5);
  sparsity_->setEnabled(false);
  fix_->setToolTip(
      "Ask the policy for a plan at exactly this global sparsity (its allocation still follows the preference)");
  sparsity_->setToolTip("The global sparsity: the share of the decoder's prunable parameters removed");
  sparsity_->setAccessibleName("fixed sparsity");
  fixed->addWidget(fix_);
  fixed->addWidget(sparsity_);
  layout->addLayout(fixed);
  connect(fix_, &QCheckBox::toggled, this, [this](bool on) {
    sparsity_->setEnabled(on);
    emitChange();
  });
  connect(sparsity_, qOverload<double>(&QDoubleSpinBox::valueChanged), this, [this](double) {
    if (fix_->isChecked()) emitChange();
  });

  layout->addSpacing(8);
  layout->addWidget(new QLabel("<b>Proposed plan</b>"));
  proposal_ = new QLabel("no trained policy yet (Search > Train policy)");
  proposal_->setWordWrap(true);
  layout->addWidget(proposal_);
  bars_ = new QCustomPlot;
  bars_->setMinimumHeight(110);
  bars_->setAccessibleName("layer allocation of the proposed plan");
  bars_->yAxis->setRange(0, 1);
  bars_->yAxis->setLabel("kept");
  bars_->xAxis->setLabel("layer");
  new QCPBars(bars_->xAxis, bars_->yAxis);
  layout->addWidget(bars_);
  evaluate_ = new QPushButton("Evaluate");
  evaluate_->setToolTip("Score the proposed plan on the search subset (in the background)");
  evaluate_->setEnabled(false);
  connect(evaluate_, &QPushButton::clicked, this, [this] { emit evaluateRequested(w_, fixedSparsity()); });
  layout->addWidget(evaluate_);
  layout->addStretch(1);
  refresh();
}

std::optional<double> PreferencePanel::fixedSparsity() const {
  if (!fix_->isChecked()) return std::nullopt;
  return sparsity_->value();
}

void PreferencePanel::setPreference(const Preference& w) {
  w_ = w;
  refresh();
  emitChange();
}

void PreferencePanel::setPolicyAvailable(bool available) {
  evaluate_->setEnabled(available);
  if (!available) proposal_->setText("no trained policy yet (Search > Train policy)");
}

void PreferencePanel::moved(int index, int value) {
  if (updating_) return;
  w_ = rebalance(w_, index, static_cast<double>(value) / kSteps);
  refresh();
  emitChange();
}

void PreferencePanel::refresh() {
  updating_ = true;
  for (size_t i = 0; i < 3; ++i) {
    sliders_[i]->setValue(static_cast<int>(std::lround(w_[i] * kSteps)));
    values_[i]->setText(QString::number(w_[i], 'f', 2));
  }
  updating_ = false;
}

void PreferencePanel::emitChange() { emit preferenceChanged(w_, fixedSparsity()); }

void PreferencePanel::showPending(const QString& why) {
  proposal_->setText(QString("<i>waiting: %1; the plan follows the sliders when it ends</i>").arg(why.toHtmlEscaped()));
}

QString PreferencePanel::proposalText() const { return proposal_->text(); }

void PreferencePanel::showProposal(const PlanView& plan) {
  QString text = QString("s = %1").arg(plan.sparsity, 0, 'f', 3);
  if (plan.metrics)
    text +=
        QString(", POPE F1 %1, ScienceQA %2 (evaluated)")
            .arg(plan.metrics->raw.value("pope_mean_f1", 0.0), 0, 'f', 3)
            .arg(plan.metrics->raw.contains("scienceqa") ? plan.metrics->raw["scienceqa"].value("accuracy", 0.0) : 0.0,
                 0, 'f', 3);
  else
    text += " (not evaluated yet)";
  proposal_->setText(text);
  auto* bars = static_cast<QCPBars*>(bars_->plottable(0));
  QVector<double> keys, values;
  for (size_t l = 0; l < plan.kept_ratio.size(); ++l) {
    keys << static_cast<double>(l);
    values << plan.kept_ratio[l];
  }
  bars->setData(keys, values);
  QStringList ratios;
  for (double v : values) ratios << QString::number(v, 'f', 2);
  bars_->setAccessibleDescription("kept ratio per decoder layer: " + ratios.join(", "));
  bars_->xAxis->setRange(-0.6, std::max<double>(1, static_cast<double>(plan.kept_ratio.size())) - 0.4);
  bars_->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace hipp::gui
