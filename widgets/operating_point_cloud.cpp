#include "operating_point_cloud.h"

#include <algorithm>
#include <cmath>

#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QHBoxLayout>
#include <QLabel>
#include <QToolTip>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace hipp::gui {

namespace {

constexpr int kColourBins = 12;      // points are drawn in colour bins (one graph each)
constexpr double kPickRadiusPx = 8;  // hover / click distance
// An unevaluated proposal is drawn on an evaluated plan only this close to its sparsity.
constexpr double kProposalNearby = 0.05;

struct Marker {
  QCPScatterStyle::ScatterShape shape;
  double size;
};

Marker marker_for(const std::string& kind) {
  if (kind == "grpo") return {QCPScatterStyle::ssDisc, 5};
  if (kind == "query") return {QCPScatterStyle::ssDisc, 11};
  if (kind == "uniform") return {QCPScatterStyle::ssTriangle, 9};
  if (kind == "owl") return {QCPScatterStyle::ssDiamond, 9};
  if (kind == "random") return {QCPScatterStyle::ssCross, 8};
  if (kind == "nsga2") return {QCPScatterStyle::ssSquare, 8};
  if (kind == "finetune") return {QCPScatterStyle::ssStar, 12};
  return {QCPScatterStyle::ssCircle, 8};
}

QString describe(const Trial& t) {
  QString text = QString("trial %1 (%2)").arg(t.id).arg(QString::fromStdString(t.origin));
  if (t.preference)
    text += QString("\nw = %1 / %2 / %3")
                .arg((*t.preference)[0], 0, 'f', 2)
                .arg((*t.preference)[1], 0, 'f', 2)
                .arg((*t.preference)[2], 0, 'f', 2);
  if (t.parent) text += QString("\nfine-tune of trial %1").arg(*t.parent);
  if (t.metrics) {
    const auto v = [&](CloudAxis a) { return axis_value(t, a).value_or(std::nan("")); };
    text += QString("\ns = %1\nPOPE mean F1 %2\nScienceQA %3 (IMG %4, no image %5)")
                .arg(t.metrics->objectives.compression, 0, 'f', 3)
                .arg(v(CloudAxis::PopeMeanF1), 0, 'f', 3)
                .arg(v(CloudAxis::ScienceQa), 0, 'f', 3)
                .arg(v(CloudAxis::ScienceQaImage), 0, 'f', 3)
                .arg(v(CloudAxis::ScienceQaNoImage), 0, 'f', 3);
    text += QString("\nrobustness %1, utility %2, compression %3")
                .arg(t.metrics->objectives.robustness, 0, 'f', 3)
                .arg(t.metrics->objectives.utility, 0, 'f', 3)
                .arg(t.metrics->objectives.compression, 0, 'f', 3);
  }
  return text;
}

}  // namespace

OperatingPointCloud::OperatingPointCloud(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  auto* axes = new QHBoxLayout;
  x_box_ = new QComboBox;
  y_box_ = new QComboBox;
  for (auto axis : cloud_axes()) {
    x_box_->addItem(QString::fromStdString(axis_label(axis)), static_cast<int>(axis));
    y_box_->addItem(QString::fromStdString(axis_label(axis)), static_cast<int>(axis));
  }
  x_box_->setCurrentIndex(x_box_->findData(static_cast<int>(request_.x)));
  y_box_->setCurrentIndex(y_box_->findData(static_cast<int>(request_.y)));
  colour_box_ = new QComboBox;
  colour_box_->addItem("colour: w_rob");
  colour_box_->addItem("colour: sparsity");
  subset_box_ = new QComboBox;
  subset_box_->addItem("search subset", "search");
  subset_box_->addItem("full test sets", "full");
  subset_box_->setToolTip("Show the plans scored on the search subset, or those scored on the full test sets");
  subset_box_->setAccessibleName("scores shown");
  x_box_->setToolTip("The metric along the horizontal axis");
  y_box_->setToolTip("The metric along the vertical axis");
  colour_box_->setToolTip("Colour points by the robustness weight of the preference that made them, or by sparsity");
  x_box_->setAccessibleName("x axis");
  y_box_->setAccessibleName("y axis");
  colour_box_->setAccessibleName("point colour");
  axes->addWidget(new QLabel("y:"));
  axes->addWidget(y_box_);
  axes->addWidget(new QLabel("x:"));
  axes->addWidget(x_box_);
  axes->addWidget(colour_box_);
  axes->addWidget(subset_box_);
  // The combos may shrink below their longest entry: the window must fit small screens.
  for (auto* box : {x_box_, y_box_, colour_box_, subset_box_}) {
    box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    box->setMinimumContentsLength(8);
  }
  axes->addStretch(1);
  layout->addLayout(axes);

  plot_ = new QCustomPlot;
  plot_->setMinimumSize(300, 220);
  plot_->setAccessibleName("operating-point cloud");
  plot_->setAccessibleDescription("Every evaluated plan; Ctrl+Right and Ctrl+Left select the next and previous point");
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->legend->setVisible(true);
  plot_->legend->setFont(QFont(font().family(), 8));
  plot_->legend->setBrush(QColor(255, 255, 255, 190));  // points stay visible under it
  // The legend moves to the corner of the view that hides the fewest points
  // (after a zoom or a pan too).
  connect(plot_, &QCustomPlot::beforeReplot, this, [this] {
    const auto x = plot_->xAxis->range(), y = plot_->yAxis->range();
    static const Qt::Alignment kAlign[4] = {Qt::AlignTop | Qt::AlignLeft, Qt::AlignTop | Qt::AlignRight,
                                            Qt::AlignBottom | Qt::AlignLeft, Qt::AlignBottom | Qt::AlignRight};
    const auto corner = legend_corner(data_, x.lower, x.upper, y.lower, y.upper, show_dominated_->isChecked());
    plot_->axisRect()->insetLayout()->setInsetAlignment(0, kAlign[static_cast<int>(corner)]);
  });
  scale_ = new QCPColorScale(plot_);
  scale_->setGradient(QCPColorGradient::gpJet);
  scale_->setDataRange(QCPRange(0, 1));
  scale_->setBarWidth(8);
  plot_->plotLayout()->addElement(0, 1, scale_);
  auto* margins = new QCPMarginGroup(plot_);
  plot_->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  scale_->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  layout->addWidget(plot_, 1);

  auto* bottom = new QHBoxLayout;
  show_front_ = new QCheckBox("front");
  show_front_->setChecked(true);
  show_dominated_ = new QCheckBox("show dominated");
  show_dominated_->setChecked(true);
  show_front_->setToolTip("Draw the Pareto front of the points shown (higher is better on both axes)");
  show_dominated_->setToolTip("Show the points that another point beats on both axes");
  bottom->addWidget(show_front_);
  bottom->addWidget(show_dominated_);
  bottom->addStretch(1);
  // The hint gives way first when the window is narrow: the side panels keep
  // their room on a 1280-px screen.
  auto* hint = new QLabel("wheel: zoom, drag: pan, double-click: reset");
  hint->setStyleSheet("color: gray");
  hint->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  hint->setAlignment(Qt::AlignLeft | Qt::AlignVCenter);
  bottom->addWidget(hint, 1);
  hint->setToolTip(hint->text());
  layout->addLayout(bottom);
  // One row of per-origin toggles below, so that neither row sets the
  // cloud's minimum width at the sum of both.
  toggles_ = new QHBoxLayout;
  auto* origins = new QHBoxLayout;
  origins->addLayout(toggles_);
  origins->addStretch(1);
  layout->addLayout(origins);

  auto axis_changed = [this] {
    request_.x = static_cast<CloudAxis>(x_box_->currentData().toInt());
    request_.y = static_cast<CloudAxis>(y_box_->currentData().toInt());
    request_.colour = colour_box_->currentIndex() == 1 ? CloudColour::Sparsity : CloudColour::PreferenceRobustness;
    request_.subset = parse_subset(subset_box_->currentData().toString().toStdString());
    rebuild();
    redraw(true);
  };
  connect(x_box_, qOverload<int>(&QComboBox::currentIndexChanged), this, axis_changed);
  connect(y_box_, qOverload<int>(&QComboBox::currentIndexChanged), this, axis_changed);
  connect(colour_box_, qOverload<int>(&QComboBox::currentIndexChanged), this, axis_changed);
  connect(subset_box_, qOverload<int>(&QComboBox::currentIndexChanged), this, axis_changed);
  connect(show_front_, &QCheckBox::toggled, this, [this] { redraw(false); });
  connect(show_dominated_, &QCheckBox::toggled, this, [this] { redraw(false); });
  connect(plot_, &QCustomPlot::mouseMove, this, &OperatingPointCloud::hover);
  connect(plot_, &QCustomPlot::mousePress, this, &OperatingPointCloud::click);
  connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) { resetView(); });
  redraw(true);
}

void OperatingPointCloud::setTrials(std::vector<Trial> trials) {
  trials_ = std::move(trials);
  rebuildToggles();
  rebuild();
  redraw(first_draw_);
  if (!data_.points.empty()) first_draw_ = false;
}

void OperatingPointCloud::clear() {
  trials_.clear();
  selected_.reset();
  compared_.reset();
  proposal_.reset();
  first_draw_ = true;
  rebuild();
  redraw(true);
}

void OperatingPointCloud::rebuildToggles() {
  for (const auto& t : trials_) {
    const auto kind = origin_kind(t.origin);
    if (origin_boxes_.count(kind)) continue;
    auto* box = new QCheckBox(QString::fromStdString(kind));
    box->setToolTip(QString("Show the plans made by %1").arg(QString::fromStdString(kind)));
    box->setChecked(true);
    box->setObjectName(QString::fromStdString("origin_" + kind));
    connect(box, &QCheckBox::toggled, this, [this] {
      rebuild();
      redraw(false);
    });
    toggles_->addWidget(box);
    origin_boxes_[kind] = box;
  }
}

QCheckBox* OperatingPointCloud::originToggle(const std::string& kind) const {
  auto it = origin_boxes_.find(kind);
  return it == origin_boxes_.end() ? nullptr : it->second;
}

void OperatingPointCloud::rebuild() {
  request_.hidden_kinds.clear();
  for (const auto& [kind, box] : origin_boxes_)
    if (!box->isChecked()) request_.hidden_kinds.push_back(kind);
  data_ = cloud_data(trials_, request_);
}

int OperatingPointCloud::drawnPointCount() const {
  int n = 0;
  for (const auto& p : data_.points) n += p.on_front || show_dominated_->isChecked() ? 1 : 0;
  return n;
}

void OperatingPointCloud::redraw(bool rescale) {
  plot_->clearGraphs();
  plot_->clearItems();
  plot_->legend->clearItems();
  QCPColorGradient gradient(QCPColorGradient::gpJet);  // color() is not const
  const QCPRange range(0, 1);
  scale_->axis()->setLabel(request_.colour == CloudColour::Sparsity ? "sparsity" : "w_rob");
  // One graph per (origin kind, colour bin); points without a colour value in grey.
  std::map<std::pair<std::string, int>, std::pair<QVector<double>, QVector<double>>> groups;
  for (const auto& p : data_.points) {
    if (!p.on_front && !show_dominated_->isChecked()) continue;
    const int bin =
        std::isnan(p.colour) ? -1 : std::clamp(static_cast<int>(p.colour * kColourBins), 0, kColourBins - 1);
    auto& g = groups[{p.kind, bin}];
    g.first << p.x;
    g.second << p.y;
  }
  std::map<std::string, bool> in_legend;
  for (const auto& [key, xy] : groups) {
    const auto& [kind, bin] = key;
    const QColor colour = bin < 0 ? QColor(120, 120, 120) : QColor(gradient.color((bin + 0.5) / kColourBins, range));
    const auto m = marker_for(kind);
    auto* graph = plot_->addGraph();
    graph->setLineStyle(QCPGraph::lsNone);
    const bool hollow = m.shape == QCPScatterStyle::ssCross || m.shape == QCPScatterStyle::ssStar;
    graph->setScatterStyle(QCPScatterStyle(m.shape, colour, hollow ? Qt::NoBrush : QBrush(colour), m.size));
    graph->setData(xy.first, xy.second);
    graph->setName(QString::fromStdString(kind));
    if (in_legend[kind]) {
      graph->removeFromLegend();
    } else {
      in_legend[kind] = true;
    }
  }
  if (show_front_->isChecked() && data_.front.size() > 1) {
    QVector<double> fx, fy;
    for (size_t i : data_.front) fx << data_.points[i].x, fy << data_.points[i].y;
    auto* front = plot_->addGraph();
    front->setName("Pareto front");
    front->setPen(QPen(QColor(40, 40, 40), 1.5, Qt::DashLine));
    front->setLineStyle(QCPGraph::lsLine);
    front->setData(fx, fy, /*alreadySorted=*/true);
  }
  if (data_.curve.size() > 1) {
    // The newest preference curve, joined in path order (robustness end first).
    QVector<double> cx, cy;
    for (size_t i : data_.curve) cx << data_.points[i].x, cy << data_.points[i].y;
    auto* curve = new QCPCurve(plot_->xAxis, plot_->yAxis);
    curve->setName(QString("curve %1 (preference path)").arg(data_.curve_id));
    curve->setPen(QPen(QColor(230, 120, 0), 2.5));
    curve->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(230, 120, 0), 2), Qt::white, 9));
    curve->setData(cx, cy);
    auto* start = new QCPItemText(plot_);
    start->position->setCoords(cx.front(), cy.front());
    start->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
    start->setText(" start");
    start->setColor(QColor(230, 120, 0));
  }
  for (const auto& [parent, child] : data_.links) {
    auto* line = new QCPItemLine(plot_);
    line->start->setCoords(data_.points[parent].x, data_.points[parent].y);
    line->end->setCoords(data_.points[child].x, data_.points[child].y);
    line->setHead(QCPLineEnding::esSpikeArrow);
    line->setPen(QPen(QColor(90, 90, 90)));
  }
  for (const auto& p : data_.points)
    if (compared_ && p.trial == *compared_) {
      auto* ring = plot_->addGraph();
      ring->setLineStyle(QCPGraph::lsNone);
      ring->setScatterStyle(
          QCPScatterStyle(QCPScatterStyle::ssSquare, QPen(Qt::black, 2, Qt::DashLine), Qt::NoBrush, 18));
      ring->setData({p.x}, {p.y});
      ring->removeFromLegend();
    }
  for (const auto& p : data_.points)
    if (selected_ && p.trial == *selected_) {
      auto* ring = plot_->addGraph();
      ring->setLineStyle(QCPGraph::lsNone);
      ring->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(Qt::black, 2), Qt::NoBrush, 18));
      ring->setData({p.x}, {p.y});
      ring->removeFromLegend();
    }
  if (proposal_) {
    // The proposal sits on its evaluated point, or (not evaluated yet) on the
    // nearest evaluated plan in sparsity, drawn hollow, when one is within
    // kProposalNearby of it (a plan of another sparsity says nothing of it).
    std::optional<std::pair<double, double>> at;
    if (proposal_->metrics) {
      Trial t;
      t.metrics = proposal_->metrics;
      const auto x = axis_value(t, request_.x), y = axis_value(t, request_.y);
      if (x && y) at = {*x, *y};
    } else {
      double best = kProposalNearby + 1e-9;
      for (const auto& t : trials_) {
        if (!t.metrics || t.subset != request_.subset) continue;
        const double d = std::abs(t.metrics->objectives.compression - proposal_->sparsity);
        const auto x = axis_value(t, request_.x), y = axis_value(t, request_.y);
        if (d < best && x && y) best = d, at = {*x, *y};
      }
    }
    if (at) {
      auto* mark = plot_->addGraph();
      mark->setName(proposal_->metrics ? "proposal (evaluated)" : "proposal (estimate)");
      mark->setLineStyle(QCPGraph::lsNone);
      const QColor magenta(200, 0, 160);
      mark->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(magenta, 3),
                                            proposal_->metrics ? QBrush(magenta) : Qt::NoBrush, 16));
      mark->setData({at->first}, {at->second});
    }
  }
  plot_->xAxis->setLabel(QString::fromStdString(axis_label(request_.x)));
  plot_->yAxis->setLabel(QString::fromStdString(axis_label(request_.y)));
  if (rescale) resetView();
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void OperatingPointCloud::resetView() {
  // Bounds of what is drawn, padded; a single value gets a small window around it.
  double lo[2] = {1e300, 1e300}, hi[2] = {-1e300, -1e300};
  for (const auto& p : data_.points) {
    if (!p.on_front && !show_dominated_->isChecked()) continue;
    lo[0] = std::min(lo[0], p.x), hi[0] = std::max(hi[0], p.x);
    lo[1] = std::min(lo[1], p.y), hi[1] = std::max(hi[1], p.y);
  }
  QCPAxis* axes[2] = {plot_->xAxis, plot_->yAxis};
  for (int a = 0; a < 2; ++a) {
    if (lo[a] > hi[a]) {
      axes[a]->setRange(0, 1);
      continue;
    }
    const double pad = std::max(0.01, (hi[a] - lo[a]) * 0.08);
    axes[a]->setRange(lo[a] - pad, hi[a] + pad);
  }
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

std::optional<int64_t> OperatingPointCloud::trialAt(const QPointF& pos) const {
  std::optional<int64_t> found;
  double best = kPickRadiusPx * kPickRadiusPx;
  for (const auto& p : data_.points) {
    if (!p.on_front && !show_dominated_->isChecked()) continue;
    const double dx = plot_->xAxis->coordToPixel(p.x) - pos.x();
    const double dy = plot_->yAxis->coordToPixel(p.y) - pos.y();
    if (dx * dx + dy * dy <= best) best = dx * dx + dy * dy, found = p.trial;
  }
  return found;
}

void OperatingPointCloud::hover(QMouseEvent* event) {
  const auto id = trialAt(event->position());
  if (!id) {
    QToolTip::hideText();
    return;
  }
  for (const auto& t : trials_)
    if (t.id == *id) QToolTip::showText(event->globalPosition().toPoint(), describe(t), plot_);
}

void OperatingPointCloud::click(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton) return;
  const auto id = trialAt(event->position());
  if (!id) return;
  if ((event->modifiers() & Qt::ControlModifier) && selected_ && *selected_ != *id) {
    compareTrial(*id);
  } else {
    selectTrial(*id);
  }
}

std::optional<int64_t> OperatingPointCloud::neighbour(std::optional<int64_t> from, int step) const {
  std::vector<const CloudPoint*> drawn;
  for (const auto& p : data_.points)
    if (p.on_front || show_dominated_->isChecked()) drawn.push_back(&p);
  if (drawn.empty()) return std::nullopt;
  std::sort(drawn.begin(), drawn.end(),
            [](const CloudPoint* a, const CloudPoint* b) { return a->x != b->x ? a->x < b->x : a->y < b->y; });
  int at = -1;
  for (size_t i = 0; i < drawn.size(); ++i)
    if (from && drawn[i]->trial == *from) at = static_cast<int>(i);
  const int n = static_cast<int>(drawn.size());
  const int next = at < 0 ? (step >= 0 ? 0 : n - 1) : ((at + step) % n + n) % n;
  return drawn[static_cast<size_t>(next)]->trial;
}

void OperatingPointCloud::selectNeighbour(int step) {
  if (const auto id = neighbour(selected_, step)) selectTrial(*id);
}

void OperatingPointCloud::compareTrial(int64_t trial) {
  compared_ = trial;
  redraw(false);
  emit trialCompared(trial);
}

void OperatingPointCloud::selectTrial(int64_t trial) {
  selected_ = trial;
  compared_.reset();
  redraw(false);
  emit trialSelected(trial);
}

void OperatingPointCloud::setProposal(const PlanView& plan) {
  proposal_ = plan;
  redraw(false);
}

bool OperatingPointCloud::exportImage(const QString& path) {
  if (path.endsWith(".pdf", Qt::CaseInsensitive)) return plot_->savePdf(path, 900, 650);
  return plot_->savePng(path, 900, 650);
}

bool OperatingPointCloud::exportFrontCsv(const QString& path,
                                         const std::function<std::vector<double>(int64_t plan_id)>& layer_ratios) {
  QFile file(path);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate)) return false;
  const auto csv = cloud_csv(data_, request_, trials_, layer_ratios);
  return file.write(csv.data(), static_cast<qint64>(csv.size())) == static_cast<qint64>(csv.size());
}

}  // namespace hipp::gui
