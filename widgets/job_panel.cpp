#include "job_panel.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTime>
#include <QVBoxLayout>

namespace hipp::gui {

namespace {

QString clock(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  return s >= 3600 ? QString("%1h%2m").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QChar('0'))
                   : QString("%1m%2s").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
}

}  // namespace

JobPanel::JobPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 2, 4, 2);
  auto* row = new QHBoxLayout;
  title_ = new QLabel("<b>JOBS</b>  idle");
  status_ = new QLabel;
  bar_ = new QProgressBar;
  bar_->setRange(0, 1000);
  bar_->setValue(0);
  bar_->setTextVisible(false);
  cancel_ = new QPushButton("Cancel");
  cancel_->setToolTip("Stop the running job cleanly (Esc); what it finished is kept");
  cancel_->setEnabled(false);
  bar_->setAccessibleName("job progress");
  row->addWidget(title_);
  row->addWidget(status_, 1);
  row->addWidget(bar_, 1);
  row->addWidget(cancel_);
  layout->addLayout(row);
  log_ = new QPlainTextEdit;
  log_->setReadOnly(true);
  log_->setMaximumBlockCount(2000);
  log_->setMaximumHeight(110);
  log_->setAccessibleName("job log");
  layout->addWidget(log_);
  connect(cancel_, &QPushButton::clicked, this, [this] {
    cancel_->setEnabled(false);
    status_->setText("cancelling...");
    emit cancelRequested();
  });
}

QString JobPanel::logText() const { return log_->toPlainText(); }

void JobPanel::jobStarted(const QString& name) {
  running_ = true;
  name_ = name;
  title_->setText(QString("<b>JOBS</b>  %1").arg(name));
  status_->setText("starting");
  bar_->setRange(0, 0);  // busy until the first progress report
  cancel_->setEnabled(true);
  appendLog(QString("%1: started").arg(name));
}

void JobPanel::jobProgress(const JobProgress& p) {
  if (!running_) return;
  if (p.fraction >= 0) {
    bar_->setRange(0, 1000);
    bar_->setValue(static_cast<int>(p.fraction * 1000));
  } else {
    bar_->setRange(0, 0);  // a phase of unknown length
  }
  QString text = QString::fromStdString(p.text);
  if (!p.phase.empty()) {
    QString where = QString::fromStdString(p.phase);
    if (p.step >= 0 && p.total > 0) where += QString(" %1/%2").arg(p.step).arg(p.total);
    bar_->setFormat(where + "  %p%");
  }
  if (p.eta_seconds >= 0) text += QString("   %1 left").arg(clock(p.eta_seconds));
  status_->setText(text);
}

void JobPanel::jobFinished(const QString& name, bool ok, const QString& message) {
  running_ = false;
  bar_->setRange(0, 1000);
  bar_->setValue(ok ? 1000 : 0);
  cancel_->setEnabled(false);
  title_->setText("<b>JOBS</b>  idle");
  status_->setText(ok ? QString("%1 done").arg(name) : QString("%1: %2").arg(name, message));
  appendLog(ok ? QString("%1: done%2").arg(name, message.isEmpty() ? QString() : " (" + message + ")")
               : QString("%1: %2").arg(name, message));
}

void JobPanel::appendLog(const QString& line) {
  log_->appendPlainText(QTime::currentTime().toString("HH:mm:ss") + "  " + line);
}

}  // namespace hipp::gui
