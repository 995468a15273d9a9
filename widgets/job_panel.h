#pragma once
// The jobs panel: the running job's name, a progress bar with its ETA, a
// Cancel button, and the log.
#include <QWidget>

#include "plan_view.h"

class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;

namespace hipp::gui {

class JobPanel : public QWidget {
  Q_OBJECT
 public:
  explicit JobPanel(QWidget* parent = nullptr);
  bool running() const { return running_; }
  QPushButton* cancelButton() const { return cancel_; }
  QProgressBar* progressBar() const { return bar_; }
  QString logText() const;

 public slots:
  void jobStarted(const QString& name);
  void jobProgress(const hipp::gui::JobProgress& progress);
  void jobFinished(const QString& name, bool ok, const QString& message);
  void appendLog(const QString& line);

 signals:
  void cancelRequested();

 private:
  bool running_ = false;
  QString name_;
  QLabel* title_ = nullptr;
  QLabel* status_ = nullptr;
  QProgressBar* bar_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QPlainTextEdit* log_ = nullptr;
};

}  // namespace hipp::gui
