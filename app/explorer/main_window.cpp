#include "main_window.h"

#include <algorithm>
#include <array>
#include <filesystem>

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QScreen>
#include <QScrollArea>
#include <QSettings>
#include <QShowEvent>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTimer>
#include <QVBoxLayout>

#include "job_panel.h"
#include "operating_point_cloud.h"
#include "plan_compare.h"
#include "plan_details.h"
#include "preference_panel.h"
#include "study_jobs.h"
#include "prune/blueprint.h"
#include "study/pg_store.h"
#include "study/store.h"

namespace hipp::gui {

namespace {
constexpr int kRefreshMs = 300;  // the cloud reloads at most ~3 times a second
constexpr int kMaxRecent = 8;

// The same places as scripts/demo.sh: <cache>/hipp-prune/demo (or
// $HIPP_DEMO_DIR) and the study <cache>/hipp-prune/demo-study.sqlite.
QString cache_dir() { return QStandardPaths::writableLocation(QStandardPaths::GenericCacheLocation) + "/hipp-prune"; }
QString default_demo_dir() {
  const QByteArray env = qgetenv("HIPP_DEMO_DIR");
  if (!env.isEmpty()) return QString::fromLocal8Bit(env);
  return cache_dir() + "/demo";
}
QString default_demo_study() { return cache_dir() + "/demo-study.sqlite"; }
}  // namespace

StallMeter::StallMeter(QObject* parent) : QObject(parent) {
  timer_.setInterval(10);
  connect(&timer_, &QTimer::timeout, this, [this] {
    const double gap = static_cast<double>(clock_.nsecsElapsed()) / 1e6;
    clock_.restart();
    max_ms_ = std::max(max_ms_, gap - 10);
  });
  clock_.start();
  timer_.start();
}

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent), worker_(std::make_unique<EngineWorker>()) {
  setWindowTitle("hipp-explorer");
  preferences_ = new PreferencePanel;
  cloud_ = new OperatingPointCloud;
  details_ = new PlanDetails;
  jobs_ = new JobPanel;
  // The side panels scroll rather than push the window past a small screen.
  auto scrolled = [](QWidget* panel) {
    auto* area = new QScrollArea;
    area->setWidget(panel);
    area->setWidgetResizable(true);
    area->setFrameShape(QFrame::NoFrame);
    area->setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);
    return area;
  };
  auto* top = new QSplitter(Qt::Horizontal);
  top->setObjectName("top_splitter");
  top->addWidget(scrolled(preferences_));
  top->addWidget(cloud_);
  top->addWidget(scrolled(details_));
  top->setStretchFactor(1, 1);
  top->setSizes({240, 780, 380});
  auto* central = new QSplitter(Qt::Vertical);
  central->setObjectName("central_splitter");
  central->addWidget(top);
  central->addWidget(jobs_);
  central->setStretchFactor(0, 1);
  setCentralWidget(central);
  status_study_ = new QLabel("no study open");
  statusBar()->addPermanentWidget(status_study_);
  stall_ = new StallMeter(this);
  buildMenus();

  refresh_.setSingleShot(true);
  refresh_.setInterval(kRefreshMs);
  connect(&refresh_, &QTimer::timeout, this, &MainWindow::refreshTrials);

  auto* w = worker_.get();
  connect(w, &EngineWorker::jobStarted, jobs_, [this](JobKind, const QString& name) { jobs_->jobStarted(name); });
  connect(w, &EngineWorker::jobProgress, jobs_, &JobPanel::jobProgress);
  connect(w, &EngineWorker::logLine, jobs_, &JobPanel::appendLog);
  connect(
      w, &EngineWorker::jobFinished, this, [this](JobKind kind, const QString& name, bool ok, const QString& message) {
        jobs_->jobFinished(name, ok, message);
        // A study that failed to open (or to be made) leaves none open, and says so.
        const bool opening = kind == JobKind::OpenStudy || kind == JobKind::CreateStudy || kind == JobKind::BuildDemo;
        if (!ok && opening && !reader_) closeStudy();
        if (!ok && message != "cancelled")
          QMessageBox::warning(this, name, QString("%1 failed:\n%2").arg(name, message));
        if (ok && kind == JobKind::Train) {
          has_policy_ = true;
          preferences_->setPolicyAvailable(true);
          worker_->query(preferences_->preference(), preferences_->fixedSparsity());
        }
        refreshTrials();
      });
  connect(w, &EngineWorker::studyOpened, this, &MainWindow::studyOpened);
  connect(w, &EngineWorker::studyChanged, this, [this] {
    if (!refresh_.isActive()) refresh_.start();
  });
  connect(w, &EngineWorker::proposal, preferences_, &PreferencePanel::showProposal);
  connect(w, &EngineWorker::proposal, cloud_, &OperatingPointCloud::setProposal);
  connect(jobs_, &JobPanel::cancelRequested, w, [w] { w->cancel(); });
  connect(preferences_, &PreferencePanel::preferenceChanged, this, [this](Preference pref, std::optional<double> s) {
    if (!has_policy_) return;
    // A query waits for the running job (it goes first after it): say so.
    if (worker_->busy()) preferences_->showPending(running_job_ + " is running");
    worker_->query(pref, s);
  });
  connect(w, &EngineWorker::jobStarted, this, [this](JobKind, const QString& name) { running_job_ = name; });
  connect(preferences_, &PreferencePanel::evaluateRequested, this,
          [this](Preference pref, std::optional<double> s) { worker_->evaluateProposal(pref, s); });
  connect(cloud_, &OperatingPointCloud::trialSelected, this, &MainWindow::showTrial);
  connect(cloud_, &OperatingPointCloud::trialCompared, this, &MainWindow::compareTrial);
  connect(details_, &PlanDetails::exportBlueprintRequested, this, &MainWindow::exportBlueprint);
  connect(details_, &PlanDetails::exportModelRequested, this, &MainWindow::exportModel);
  connect(details_, &PlanDetails::finetuneRequested, this, &MainWindow::finetune);
  connect(details_, &PlanDetails::evaluateFullRequested, this, [this](int64_t t) { worker_->evaluateFull(t); });

  QSettings settings;
  restoreGeometry(settings.value("window/geometry").toByteArray());
  restoreState(settings.value("window/state").toByteArray());
  if (settings.contains("window/top")) top->restoreState(settings.value("window/top").toByteArray());
  if (settings.contains("window/central")) central->restoreState(settings.value("window/central").toByteArray());
  if (!settings.contains("window/geometry")) resize(1400, 860);
}

void MainWindow::showEvent(QShowEvent* event) {
  QMainWindow::showEvent(event);
  if (fitted_) return;
  fitted_ = true;
  // Once the frame is known: a first start, or a size saved on a larger screen.
  QTimer::singleShot(0, this, &MainWindow::fitToScreen);
}

void MainWindow::fitToScreen() {
  // Never larger than the screen's free area (a 1280x720 laptop included).
  const QScreen* where = screen() ? screen() : QGuiApplication::primaryScreen();
  if (!where) return;
  const QRect free = where->availableGeometry();
  const QSize frame_extra = frameGeometry().size() - geometry().size();
  const int w = std::min(width(), free.width() - frame_extra.width());
  const int h = std::min(height(), free.height() - frame_extra.height());
  if (w != width() || h != height()) resize(w, h);
  // And on the screen: the frame's corner inside the free area.
  const QRect frame = frameGeometry();
  const int x = std::clamp(frame.x(), free.left(), std::max(free.left(), free.right() + 1 - frame.width()));
  const int y = std::clamp(frame.y(), free.top(), std::max(free.top(), free.bottom() + 1 - frame.height()));
  if (x != frame.x() || y != frame.y()) move(x, y);
  if (auto* top = findChild<QSplitter*>("top_splitter"); top && width() < 1400)
    top->setSizes({width() * 17 / 100, width() * 53 / 100, width() * 30 / 100});
}

QString MainWindow::statusText() const { return status_study_->text(); }

void MainWindow::closeStudy() {
  reader_.reset();
  study_path_.clear();
  has_policy_ = false;
  preferences_->setPolicyAvailable(false);
  cloud_->clear();
  details_->clear();
  status_study_->setText("no study open");
  setWindowTitle("hipp-explorer");
}

MainWindow::~MainWindow() = default;

void MainWindow::buildMenus() {
  auto* file = menuBar()->addMenu("&File");
  file->addAction("New &demo study", this, &MainWindow::newDemoStudy);
  file->addAction("&New study from folders...", QKeySequence::New, this, &MainWindow::newStudyFromFolders);
  file->addAction("&Open study...", QKeySequence::Open, this, &MainWindow::chooseStudy);
  file->addAction("Open PostgreSQL study...", this, &MainWindow::chooseServerStudy);
  recent_menu_ = file->addMenu("Recent studies");
  rebuildRecentMenu();
  file->addSeparator();
  file->addAction("&Quit", QKeySequence::Quit, this, &QWidget::close);

  auto* study = menuBar()->addMenu("&Study");
  study->addAction("Export &blueprint...", QKeySequence("Ctrl+E"), this, [this] {
    if (auto t = selected()) exportBlueprint(*t);
  });
  study->addAction("Export pruned &model...", this, [this] {
    if (auto t = selected()) exportModel(*t);
  });
  study->addAction("&Fine-tune selected...", this, [this] {
    if (auto t = selected()) finetune(*t);
  });
  study->addAction("Evaluate selected on the f&ull set", this, [this] {
    if (auto t = selected()) worker_->evaluateFull(*t);
  });

  auto* search = menuBar()->addMenu("Sea&rch");
  search->addAction("&Train policy...", QKeySequence("Ctrl+T"), this, &MainWindow::train);
  auto* baselines = search->addMenu("Run &baseline");
  for (const char* method : {"uniform", "owl", "random", "nsga2"})
    baselines->addAction(method, this, [this, method] { runBaseline(method); });
  search->addAction("Robustness-utility &curve...", QKeySequence("Ctrl+U"), this, &MainWindow::curve);
  search->addSeparator();
  auto* cancel = search->addAction("&Cancel job", QKeySequence(Qt::Key_Escape), this, [this] { worker_->cancel(); });
  cancel->setShortcutContext(Qt::ApplicationShortcut);

  auto* view = menuBar()->addMenu("&View");
  view->addAction("&Reset view", QKeySequence("Ctrl+0"), cloud_, &OperatingPointCloud::resetView);
  view->addAction("Select &next point", QKeySequence("Ctrl+Right"), this, [this] { cloud_->selectNeighbour(1); });
  view->addAction("Select &previous point", QKeySequence("Ctrl+Left"), this, [this] { cloud_->selectNeighbour(-1); });
  view->addAction("Compare with the next point", QKeySequence("Ctrl+Shift+Right"), this, [this] {
    const auto selected = cloud_->selectedTrial();
    if (!selected) return;
    if (const auto next = cloud_->neighbour(selected, 1); next && *next != *selected) cloud_->compareTrial(*next);
  });
  view->addAction("Export &plot (PNG/PDF)...", this, [this] {
    const QString path = QFileDialog::getSaveFileName(this, "Export plot", "cloud.png", "Images (*.png *.pdf)");
    if (!path.isEmpty() && !cloud_->exportImage(path))
      QMessageBox::warning(this, "Export plot", "Cannot write " + path);
  });
  view->addAction("Export the cloud as &CSV...", this, [this] {
    const QString path = QFileDialog::getSaveFileName(this, "Export the cloud", "cloud.csv", "CSV (*.csv)");
    // Each plan's per-layer removed shares, from the study.
    auto ratios = [this](int64_t plan_id) {
      std::vector<double> out;
      if (!reader_) return out;
      try {
        if (const auto plan = reader_->plan(plan_id)) {
          const auto b = blueprint_from_json(plan->blueprint, "plan " + std::to_string(plan_id));
          for (size_t l = 0; l < b.layers(); ++l) out.push_back(b.ratio(l));
        }
      } catch (const std::exception& e) {
        jobs_->appendLog(QString("export: plan %1: %2").arg(plan_id).arg(e.what()));
      }
      return out;
    };
    if (!path.isEmpty() && !cloud_->exportFrontCsv(path, ratios))
      QMessageBox::warning(this, "Export front", "Cannot write " + path);
  });

  auto* help = menuBar()->addMenu("&Help");
  help->addAction("&Reading the cloud", this, [this] {
    QMessageBox::information(
        this, "Reading the cloud",
        "Each point is an evaluated plan: a global sparsity and its allocation over the decoder layers.\n\n"
        "Shapes: small discs, plans the policy sampled while training (grpo); large discs, the policy's answers "
        "to preferences (query); triangles, uniform; diamonds, OWL; crosses, random search; squares, NSGA-II; "
        "stars, fine-tuned models.\n"
        "Colour: the robustness weight of the preference that made the plan (or its sparsity).\n"
        "Line: the Pareto front of the points shown.\n"
        "Ring: the selected plan, whose layers and metrics the right-hand panel shows. Ctrl+click a second "
        "point to compare the two side by side (dashed square).\n"
        "Arrow: from a plan to its fine-tuned child.\n"
        "Magenta: the policy's proposal for the current preference, hollow until evaluated.\n"
        "Orange line: the newest robustness-utility curve (Search > Robustness-utility curve), from its start.\n\n"
        "Wheel zooms, drag pans, double-click resets the view; the boxes below the plot hide kinds of plans.");
  });
  help->addAction("&About", this, [this] {
    QMessageBox::about(this, "hipp-explorer",
                       "hipp-explorer: preference-conditioned structured pruning of vision-language models.\n"
                       "Move the preference, watch the policy's plan move across the cloud of evaluated plans, "
                       "pick a point, export it or fine-tune it.");
  });
}

namespace {
// A study is a file or a postgresql:// URL (docs/distributed.md).
bool is_url(const QString& path) { return is_postgresql_url(path.toStdString()); }
// What the window calls a study: its file name, or its URL without a password.
QString study_label(const QString& path) {
  return is_url(path) ? QString::fromStdString(redacted_url(path.toStdString())) : QFileInfo(path).fileName();
}
}  // namespace

void MainWindow::openStudy(const QString& path) {
  if (!is_url(path) && !QFileInfo::exists(path)) {
    QMessageBox::warning(this, "Open study", path + " does not exist");
    return;
  }
  // Nothing of the previous study stays on screen while this one opens.
  closeStudy();
  study_path_ = path;
  status_study_->setText("opening " + study_label(path));
  worker_->openStudy(path);
}

void MainWindow::studyOpened(const StudySummary& summary) {
  study_path_ = QString::fromStdString(summary.path);
  try {
    // The worker has opened (and, if needed, upgraded) the file; the window reads it read-only.
    if (!reader_) reader_ = open_study_store(summary.path, /*read_only=*/true);
  } catch (const std::exception& e) {
    QMessageBox::warning(this, "Open study", e.what());
    return;
  }
  has_policy_ = summary.has_policy;
  preferences_->setPolicyAvailable(has_policy_);
  details_->setDense(summary.dense);
  if (!summary.visual_sensitivity.empty()) details_->setVisualSensitivity(summary.visual_sensitivity);
  status_study_->setText(study_label(study_path_) + "   " + QString::fromStdString(summary.model_dir));
  setWindowTitle("hipp-explorer - " + study_label(study_path_));
  addRecent(study_path_);
  refreshTrials();
  if (has_policy_) worker_->query(preferences_->preference(), preferences_->fixedSparsity());
  if (!summary.visual_sensitivity.empty()) emit studyReady();
}

void MainWindow::refreshTrials() {
  if (!reader_) return;
  try {
    auto trials = reader_->trials();
    const int n = static_cast<int>(trials.size());
    cloud_->setTrials(std::move(trials));
    emit trialsRefreshed(n);
  } catch (const std::exception& e) {
    jobs_->appendLog(QString("reading the study: ") + e.what());
  }
}

bool MainWindow::selectBestTrial() {
  const auto& points = cloud_->data().points;
  if (points.empty()) return false;
  size_t best = 0;
  for (size_t i = 1; i < points.size(); ++i)
    if (points[i].y > points[best].y) best = i;
  cloud_->selectTrial(points[best].trial);
  return true;
}

std::optional<int64_t> MainWindow::selected() const {
  if (const auto* plan = details_->plan(); plan && plan->trial > 0) return plan->trial;
  QMessageBox::information(const_cast<MainWindow*>(this), "No plan selected", "Click a point of the cloud first.");
  return std::nullopt;
}

std::optional<PlanView> MainWindow::planView(int64_t id) {
  if (!reader_) return std::nullopt;
  const auto trial = reader_->trial(id);
  if (!trial) return std::nullopt;
  const auto plan = reader_->plan(trial->plan_id);
  PlanView view;
  view.trial = trial->id;
  view.origin = trial->origin;
  view.preference = trial->preference;
  view.metrics = trial->metrics;
  view.parent = trial->parent;
  view.details = trial->details;
  view.subset = trial->subset;
  if (plan) {
    const auto b = blueprint_from_json(plan->blueprint, "plan of trial " + std::to_string(id));
    view.sparsity = b.achieved_sparsity;
    for (size_t l = 0; l < b.layers(); ++l) view.kept_ratio.push_back(1 - b.ratio(l));
  }
  return view;
}

void MainWindow::compareTrial(int64_t id) {
  const auto* selected = details_->plan();
  if (!selected) return;
  try {
    const auto other = planView(id);
    if (!other) return;
    if (!compare_window_) {
      compare_window_ = new QDialog(this);
      compare_window_->setWindowTitle("Compare plans");
      auto* layout = new QVBoxLayout(compare_window_);
      compare_ = new PlanCompare;
      layout->addWidget(compare_);
      compare_window_->resize(520, 620);
    }
    compare_->setPlans(*selected, *other);
    compare_window_->show();
    compare_window_->raise();
  } catch (const std::exception& e) {
    QMessageBox::warning(this, "Compare plans", e.what());
  }
}

void MainWindow::showTrial(int64_t id) {
  try {
    if (const auto view = planView(id)) details_->showPlan(*view);
  } catch (const std::exception& e) {
    QMessageBox::warning(this, "Selected plan", e.what());
  }
}

void MainWindow::addRecent(const QString& study) {
  // A URL is remembered without its password (libpq finds it in ~/.pgpass).
  const QString path = is_url(study) ? QString::fromStdString(redacted_url(study.toStdString())) : study;
  QSettings settings;
  auto recent = settings.value("studies/recent").toStringList();
  recent.removeAll(path);
  recent.prepend(path);
  while (recent.size() > kMaxRecent) recent.removeLast();
  settings.setValue("studies/recent", recent);
  settings.setValue("studies/last", path);
  rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
  recent_menu_->clear();
  const auto recent = QSettings().value("studies/recent").toStringList();
  for (const auto& path : recent) recent_menu_->addAction(path, this, [this, path] { openStudy(path); });
  recent_menu_->setEnabled(!recent.isEmpty());
}

void MainWindow::offerDemo() {
  const QString dir = default_demo_dir();
  const QString study = default_demo_study();
  if (QFileInfo::exists(study) || (is_url(study) && !study.isEmpty())) {
    openStudy(study);
    return;
  }
  const auto answer = QMessageBox::question(
      this, "Welcome to hipp-explorer",
      "No study yet. Build the demo (a synthetic POPE/ScienceQA benchmark and a tiny LLaVA trained on it, "
      "about 15 minutes on a laptop CPU) in\n" +
          dir + " ?");
  if (answer == QMessageBox::Yes) worker_->buildDemo(dir, study);
}

void MainWindow::newDemoStudy() {
  if (QFileInfo::exists(default_demo_study())) {
    openStudy(default_demo_study());
    return;
  }
  closeStudy();
  status_study_->setText("building the demo");
  worker_->buildDemo(default_demo_dir(), default_demo_study());
}

void MainWindow::newStudyFromFolders() {
  const QString model = QFileDialog::getExistingDirectory(this, "Model folder (Hugging Face LLaVA layout)");
  if (model.isEmpty()) return;
  const QString bench = QFileDialog::getExistingDirectory(this, "Benchmark folder (pope/ and scienceqa/)");
  if (bench.isEmpty()) return;
  const QString path = QFileDialog::getSaveFileName(this, "New study file", "study.sqlite", "Studies (*.sqlite)");
  if (path.isEmpty()) return;
  if (QFileInfo::exists(path)) {
    QMessageBox::warning(this, "New study", path + " already exists; choose a new file name.");
    return;
  }
  closeStudy();
  status_study_->setText("creating " + QFileInfo(path).fileName());
  worker_->createStudy(model, bench, path);
}

void MainWindow::chooseStudy() {
  const QString path = QFileDialog::getOpenFileName(this, "Open study", QDir::homePath(), "Studies (*.sqlite)");
  if (!path.isEmpty()) openStudy(path);
}

void MainWindow::chooseServerStudy() {
  bool ok = false;
  const QString url = QInputDialog::getText(this, "Open PostgreSQL study",
                                            "Study URL (postgresql://user@host:port/db?study=NAME):", QLineEdit::Normal,
                                            "postgresql://", &ok)
                          .trimmed();
  if (!ok || url.isEmpty()) return;
  if (!is_url(url)) {
    QMessageBox::warning(this, "Open PostgreSQL study", url + " is not a postgresql:// URL");
    return;
  }
  openStudy(url);
}

void MainWindow::exportBlueprint(int64_t trial) {
  const QString path =
      QFileDialog::getSaveFileName(this, "Export blueprint", QString("trial-%1.json").arg(trial), "JSON (*.json)");
  if (!path.isEmpty()) worker_->exportBlueprint(trial, path);
}

void MainWindow::exportModel(int64_t trial) {
  const QString parent = QFileDialog::getExistingDirectory(this, "Folder to create the pruned model in");
  if (parent.isEmpty()) return;
  bool ok = false;
  const QString name = QInputDialog::getText(this, "Export pruned model", "New folder name:", QLineEdit::Normal,
                                             QString("trial-%1-pruned").arg(trial), &ok);
  if (ok && !name.isEmpty()) worker_->exportModel(trial, QDir(parent).filePath(name));
}

void MainWindow::finetune(int64_t trial) {
  bool ok = false;
  const int steps = QInputDialog::getInt(this, "Fine-tune", "LoRA steps:", 300, 1, 100000, 50, &ok);
  if (!ok) return;
  // Where the fine-tuned model goes (a new folder in it, named after the study
  // and the trial; a cancelled fine-tune of the same plan there is resumed).
  const QString folder = QFileDialog::getExistingDirectory(this, "Folder to write the fine-tuned model in",
                                                           QFileInfo(study_path_).absolutePath());
  if (folder.isEmpty()) return;
  worker_->finetune(trial, steps, folder);
}

void MainWindow::runBaseline(const QString& method) {
  bool ok = false;
  const int n = QInputDialog::getInt(this, "Baseline " + method, "Evaluations:", 16, 1, 100000, 4, &ok);
  if (ok) worker_->runBaseline(method, n);
}

void MainWindow::train() {
  bool ok = false;
  const int n = QInputDialog::getInt(this, "Train policy",
                                     "Further GRPO iterations (8 plans each), added to those the policy already has:",
                                     default_train_iterations(), 1, 1000, 1, &ok);
  if (ok) worker_->train(n, 15);
}

void MainWindow::curve() {
  if (!has_policy_) {
    QMessageBox::information(this, "Robustness-utility curve", "Train the policy first (Search > Train policy).");
    return;
  }
  QDialog dialog(this);
  dialog.setWindowTitle("Robustness-utility curve");
  auto* form = new QFormLayout(&dialog);
  auto* intro = new QLabel(
      "The policy's plans at one sparsity for preferences along a path through the simplex, each evaluated in the "
      "background and drawn as a curve over the cloud.");
  intro->setWordWrap(true);
  form->addRow(intro);
  auto* sparsity = new QDoubleSpinBox;
  sparsity->setRange(0.05, 0.9);
  sparsity->setSingleStep(0.05);
  sparsity->setValue(preferences_->fixedSparsity().value_or(0.5));
  sparsity->setAccessibleName("curve sparsity");
  form->addRow("Sparsity:", sparsity);
  auto* points = new QSpinBox;
  points->setRange(2, 41);
  points->setValue(11);
  points->setAccessibleName("curve points");
  form->addRow("Points:", points);
  auto weights = [&](const QString& label, Preference w) {
    auto* row = new QHBoxLayout;
    std::array<QDoubleSpinBox*, 3> boxes{};
    const char* names[] = {"robustness", "utility", "compression"};
    for (size_t i = 0; i < 3; ++i) {
      boxes[i] = new QDoubleSpinBox;
      boxes[i]->setRange(0, 1);
      boxes[i]->setSingleStep(0.1);
      boxes[i]->setValue(w[i]);
      boxes[i]->setToolTip(QString("weight of %1 (the three are normalised to sum to 1)").arg(names[i]));
      boxes[i]->setAccessibleName(label + " " + names[i]);
      row->addWidget(boxes[i]);
    }
    form->addRow(label, row);
    return boxes;
  };
  const auto from = weights("From (rob / util / comp):", Preference{1, 0, 0});
  const auto to = weights("To (rob / util / comp):", Preference{0, 1, 0});
  auto* subset = new QComboBox;
  subset->addItem("search subset (fast)", "search");
  subset->addItem("full test sets", "full");
  subset->setAccessibleName("curve scored on");
  form->addRow("Scored on:", subset);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  form->addRow(buttons);
  connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  if (dialog.exec() != QDialog::Accepted) return;
  Preference a{}, b{};
  for (size_t i = 0; i < 3; ++i) a[i] = from[i]->value(), b[i] = to[i]->value();
  if (a[0] + a[1] + a[2] <= 0 || b[0] + b[1] + b[2] <= 0) {
    QMessageBox::warning(this, "Robustness-utility curve", "Each end needs a weight above zero.");
    return;
  }
  const QString scored = subset->currentData().toString();
  // Show the scores the curve is made of.
  cloud_->subsetBox()->setCurrentIndex(cloud_->subsetBox()->findData(scored));
  worker_->curve(a, b, points->value(), sparsity->value(), parse_subset(scored.toStdString()));
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (worker_->busy()) {
    const auto answer = QMessageBox::question(this, "A job is running", "Cancel the running job and quit?");
    if (answer != QMessageBox::Yes) {
      event->ignore();
      return;
    }
  }
  QSettings settings;
  settings.setValue("window/geometry", saveGeometry());
  settings.setValue("window/state", saveState());
  if (auto* central = findChild<QSplitter*>("central_splitter"))
    settings.setValue("window/central", central->saveState());
  if (auto* top = findChild<QSplitter*>("top_splitter")) settings.setValue("window/top", top->saveState());
  worker_.reset();  // cancels the job and waits for the thread
  event->accept();
}

}  // namespace hipp::gui
