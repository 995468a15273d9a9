#pragma once
// The preference panel: robustness / utility / compression sliders kept on
// the simplex (moving one rebalances the others), an optional fixed
// sparsity, and the plan the trained policy proposes for the current
// preference (per-layer kept ratios), with an Evaluate button.
#include <optional>

#include <QWidget>

#include "plan_view.h"

class QCheckBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QSlider;
class QCustomPlot;

namespace hipp::gui {

class PreferencePanel : public QWidget {
  Q_OBJECT
 public:
  explicit PreferencePanel(QWidget* parent = nullptr);

  Preference preference() const { return w_; }
  std::optional<double> fixedSparsity() const;
  void setPreference(const Preference& w);
  QSlider* slider(int index) const { return sliders_[static_cast<size_t>(index)]; }
  QCheckBox* fixSparsityBox() const { return fix_; }
  QDoubleSpinBox* sparsityBox() const { return sparsity_; }
  QPushButton* evaluateButton() const { return evaluate_; }
  // Enabled when the study has a trained policy.
  void setPolicyAvailable(bool available);

 public slots:
  void showProposal(const hipp::gui::PlanView& plan);
  // The proposal cannot follow the sliders yet (a job holds the engine): say
  // so, and why, until the next proposal arrives.
  void showPending(const QString& why);
  QString proposalText() const;

 signals:
  // The preference or the fixed sparsity changed (the window asks the policy).
  void preferenceChanged(hipp::Preference w, std::optional<double> sparsity);
  void evaluateRequested(hipp::Preference w, std::optional<double> sparsity);

 private:
  void moved(int index, int value);
  void refresh();
  void emitChange();

  Preference w_{1.0 / 3, 1.0 / 3, 1.0 / 3};
  std::array<QSlider*, 3> sliders_{};
  std::array<QLabel*, 3> values_{};
  QCheckBox* fix_ = nullptr;
  QDoubleSpinBox* sparsity_ = nullptr;
  QLabel* proposal_ = nullptr;
  QCustomPlot* bars_ = nullptr;
  QPushButton* evaluate_ = nullptr;
  bool updating_ = false;
};

}  // namespace hipp::gui
