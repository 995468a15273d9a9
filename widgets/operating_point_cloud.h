#pragma once
// The operating-point cloud: every complete trial of the study as a point
// on two chosen axes, markers by origin (small dots for GRPO samples, large
// for policy queries, shapes for baselines, stars for fine-tuned children
// joined to their parent), colour by w_rob or sparsity, the 2-D Pareto front
// drawn, hover tooltips, click to select, wheel zoom, drag pan, double-click
// to reset. What to draw comes from cloud_data() (study/cloud.h).
#include <map>
#include <optional>
#include <vector>

#include <QWidget>

#include "plan_view.h"
#include "study/cloud.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QCPColorScale;
class QHBoxLayout;
class QMouseEvent;

namespace hipp::gui {

class OperatingPointCloud : public QWidget {
  Q_OBJECT
 public:
  explicit OperatingPointCloud(QWidget* parent = nullptr);

  void setTrials(std::vector<Trial> trials);
  // No trials, no selection, no proposal (a study closed or a new one opening).
  void clear();
  const CloudData& data() const { return data_; }
  const CloudRequest& request() const { return request_; }
  // Points drawn (dominated ones count only when shown).
  int drawnPointCount() const;
  std::optional<int64_t> selectedTrial() const { return selected_; }
  std::optional<int64_t> comparedTrial() const { return compared_; }
  QCheckBox* originToggle(const std::string& kind) const;
  QCheckBox* dominatedToggle() const { return show_dominated_; }
  QComboBox* xAxisBox() const { return x_box_; }
  QComboBox* yAxisBox() const { return y_box_; }
  // Which scores are shown: the search subset's or the full test sets'.
  QComboBox* subsetBox() const { return subset_box_; }
  QCustomPlot* plot() const { return plot_; }

  bool exportImage(const QString& path);  // .png or .pdf, by extension
  // The cloud's points with their metrics; with layer_ratios (plan id -> each
  // layer's removed share) the per-layer ratios too.
  bool exportFrontCsv(const QString& path,
                      const std::function<std::vector<double>(int64_t plan_id)>& layer_ratios = {});
  // Trial under a widget position of the plot (within a few pixels), if any.
  std::optional<int64_t> trialAt(const QPointF& pos) const;

 public slots:
  void selectTrial(int64_t trial);
  // Marks a second plan to compare with the selected one (Ctrl+click).
  void compareTrial(int64_t trial);
  // Keyboard selection: the next (+1) or previous (-1) drawn point along x
  // (then y); the first one when none is selected.
  void selectNeighbour(int step);
  // The drawn point `step` places after `from` along x (then y), wrapping;
  // from none: the first (or last) one.
  std::optional<int64_t> neighbour(std::optional<int64_t> from, int step) const;
  // The policy's proposal: drawn hollow at (x, y) on the current axes, solid once evaluated.
  void setProposal(const hipp::gui::PlanView& plan);
  void resetView();

 signals:
  void trialSelected(int64_t trial);
  void trialCompared(int64_t trial);

 private:
  void rebuild();
  void redraw(bool rescale);
  void rebuildToggles();
  void hover(QMouseEvent* event);
  void click(QMouseEvent* event);

  std::vector<Trial> trials_;
  CloudRequest request_;
  CloudData data_;
  std::optional<int64_t> selected_;
  std::optional<PlanView> proposal_;
  std::optional<int64_t> compared_;
  QCustomPlot* plot_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  QComboBox* x_box_ = nullptr;
  QComboBox* y_box_ = nullptr;
  QComboBox* colour_box_ = nullptr;
  QComboBox* subset_box_ = nullptr;
  QCheckBox* show_dominated_ = nullptr;
  QCheckBox* show_front_ = nullptr;
  QHBoxLayout* toggles_ = nullptr;
  std::map<std::string, QCheckBox*> origin_boxes_;
  bool first_draw_ = true;
};

}  // namespace hipp::gui
