#pragma once
// The selected plan: per-layer kept-ratio bars with the layers' visual
// sensitivity drawn over them, the metrics table (POPE per split, ScienceQA
// overall / IMG / text, parameters, FLOPs), origin and preference, and the
// actions on it.
#include <QWidget>

#include "plan_view.h"

class QCustomPlot;
class QLabel;
class QPushButton;
class QTableWidget;

namespace hipp::gui {

class PlanDetails : public QWidget {
  Q_OBJECT
 public:
  explicit PlanDetails(QWidget* parent = nullptr);

  void setVisualSensitivity(std::vector<double> per_layer);
  void setDense(const nlohmann::json& dense_by_subset);
  const PlanView* plan() const { return has_plan_ ? &plan_ : nullptr; }
  QTableWidget* table() const { return table_; }
  QPushButton* exportBlueprintButton() const { return export_blueprint_; }
  QPushButton* exportModelButton() const { return export_model_; }
  QPushButton* finetuneButton() const { return finetune_; }
  QPushButton* evaluateFullButton() const { return evaluate_full_; }

 public slots:
  void showPlan(const hipp::gui::PlanView& plan);
  void clear();

 signals:
  void exportBlueprintRequested(int64_t trial);
  void exportModelRequested(int64_t trial);
  void finetuneRequested(int64_t trial);
  void evaluateFullRequested(int64_t trial);

 private:
  void fillTable();
  void drawBars();

  PlanView plan_;
  bool has_plan_ = false;
  std::vector<double> visual_;
  nlohmann::json dense_ = nlohmann::json::object();
  QLabel* title_ = nullptr;
  QLabel* summary_ = nullptr;
  QCustomPlot* bars_ = nullptr;
  QTableWidget* table_ = nullptr;
  QPushButton* export_blueprint_ = nullptr;
  QPushButton* export_model_ = nullptr;
  QPushButton* finetune_ = nullptr;
  QPushButton* evaluate_full_ = nullptr;
};

}  // namespace hipp::gui
