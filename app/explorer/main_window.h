#pragma once
// hipp-explorer's window: composes the preference panel, the operating-point
// cloud, the plan details and the jobs panel around one engine thread; reads
// the study through a read-only store connection, refreshing at most a few
// times a second.
#include <memory>
#include <optional>

#include <QElapsedTimer>
#include <QMainWindow>
#include <QTimer>

#include "engine_worker.h"

class QDialog;
class QLabel;
class QMenu;

namespace hipp {
class StudyStore;
}

namespace hipp::gui {

class JobPanel;
class OperatingPointCloud;
class PlanCompare;
class PlanDetails;
class PreferencePanel;

// Measures how late a 10 ms timer fires: the longest stall of the event loop.
class StallMeter : public QObject {
  Q_OBJECT
 public:
  explicit StallMeter(QObject* parent = nullptr);
  double maxStallMs() const { return max_ms_; }
  void reset() { max_ms_ = 0; }

 private:
  QTimer timer_;
  QElapsedTimer clock_;
  double max_ms_ = 0;
};

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  void openStudy(const QString& path);
  // Forgets the open study: the cloud, the selected plan and the status bar empty.
  void closeStudy();
  // Shrinks the window to the screen's free area when it is larger.
  void fitToScreen();
  // Offers to build the demo when there is no study to open (first start).
  void offerDemo();
  QString studyPath() const { return study_path_; }
  QString statusText() const;
  EngineWorker& worker() { return *worker_; }
  OperatingPointCloud* cloud() const { return cloud_; }
  PlanDetails* details() const { return details_; }
  PreferencePanel* preferences() const { return preferences_; }
  JobPanel* jobs() const { return jobs_; }
  StallMeter* stallMeter() const { return stall_; }
  // Reloads the trials now (otherwise at most every refresh interval).
  void refreshTrials();
  // Selects the trial with the best value on the cloud's y axis (smoke tests, demos).
  bool selectBestTrial();

 signals:
  void studyReady();
  void trialsRefreshed(int count);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void showEvent(QShowEvent* event) override;

 private:
  void buildMenus();
  void showTrial(int64_t trial);
  // The selected plan beside `trial` (Ctrl+click on the cloud).
  void compareTrial(int64_t trial);
  std::optional<PlanView> planView(int64_t trial);
  void studyOpened(const StudySummary& summary);
  void addRecent(const QString& path);
  void rebuildRecentMenu();
  void newDemoStudy();
  void newStudyFromFolders();
  void chooseStudy();
  void chooseServerStudy();
  void exportBlueprint(int64_t trial);
  void exportModel(int64_t trial);
  void finetune(int64_t trial);
  void runBaseline(const QString& method);
  void train();
  // Asks for a sparsity and a path of preferences, then evaluates the policy's curve.
  void curve();
  std::optional<int64_t> selected() const;

  std::unique_ptr<EngineWorker> worker_;
  std::unique_ptr<StudyStore> reader_;
  QString study_path_;
  bool has_policy_ = false;
  PreferencePanel* preferences_ = nullptr;
  OperatingPointCloud* cloud_ = nullptr;
  PlanDetails* details_ = nullptr;
  JobPanel* jobs_ = nullptr;
  QLabel* status_study_ = nullptr;
  QMenu* recent_menu_ = nullptr;
  QTimer refresh_;
  bool fitted_ = false;
  QDialog* compare_window_ = nullptr;
  PlanCompare* compare_ = nullptr;
  QString running_job_;
  StallMeter* stall_ = nullptr;
};

}  // namespace hipp::gui
