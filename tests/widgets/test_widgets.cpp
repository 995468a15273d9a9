// Widget tests (Qt Test, offscreen): the preference simplex, the cloud
// (toggles, selection, exports), the details panel, the jobs panel, and the
// window with its engine thread on a small prepared study (selection,
// export, cancel).
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <QCheckBox>
#include <QScrollBar>
#include <QAbstractSlider>
#include <QAbstractSpinBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QComboBox>
#include <QMenu>
#include <QMenuBar>
#include <QScreen>
#include <QTimer>
#include <QDir>
#include <QFile>
#include <QPushButton>
#include <QSignalSpy>
#include <QSlider>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>
#include <qcustomplot.h>

#include "engine_worker.h"
#include "job_panel.h"
#include "main_window.h"
#include "operating_point_cloud.h"
#include "plan_compare.h"
#include "plan_details.h"
#include "preference_panel.h"
#include "trial_fixture.h"
#include "data/synthetic.h"
#include "prune/blueprint.h"

using namespace hipp;
using namespace hipp::gui;

namespace {

using test::complete_trial;

std::vector<Trial> sample_trials() {
  return {complete_trial(1, "uniform", 0.80, 0.60, 0.5),
          complete_trial(2, "grpo:1", 0.85, 0.55, 0.5, Preference{0.8, 0.1, 0.1}),
          complete_trial(3, "grpo:2", 0.70, 0.50, 0.5, Preference{0.2, 0.7, 0.1}),
          complete_trial(4, "query", 0.75, 0.65, 0.5, Preference{0.1, 0.8, 0.1}),
          complete_trial(5, "finetune", 0.82, 0.62, 0.5, std::nullopt, 1)};
}

// A plan as the details panel shows it, from one of the sample trials' metrics.
PlanView sample_view(int64_t trial, const std::string& origin, double f1, double sqa, std::vector<double> kept) {
  PlanView view;
  view.trial = trial;
  view.origin = origin;
  view.sparsity = 0.5;
  view.kept_ratio = std::move(kept);
  view.metrics = complete_trial(trial, origin, f1, sqa, 0.5).metrics;
  return view;
}

bool run(const std::string& command) { return std::system((command + " > /dev/null 2>&1").c_str()) == 0; }

// Waits for the job called `name` to finish; returns (ok, message).
std::pair<bool, QString> wait_job(QSignalSpy& finished, const QString& name, int timeout_ms) {
  QElapsedTimer clock;
  clock.start();
  while (clock.elapsed() < timeout_ms) {
    while (!finished.isEmpty()) {
      const auto args = finished.takeFirst();
      if (args.at(1).toString() == name) return {args.at(2).toBool(), args.at(3).toString()};
    }
    finished.wait(200);
  }
  return {false, "timed out"};
}

}  // namespace

class WidgetTests : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir dir_;
  QString study_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    QCoreApplication::setOrganizationName("hipp-prune-tests");
    QCoreApplication::setApplicationName("widget-tests");
    // A small real study for the window tests, made with the command line.
    const std::string d = dir_.path().toStdString();
    const std::string cli = HIPP_CLI_PATH;
    QVERIFY(run(cli + " random-model --preset micro " + d + "/model"));
    SyntheticBenchmarkOptions bench;
    bench.pope_images = 3;
    bench.sqa_train = 6;
    bench.sqa_test = 6;
    bench.instruction_conversations = 4;
    bench.scene.image_size = 32;
    write_synthetic_benchmark(d + "/bench", bench);
    study_ = dir_.filePath("study.sqlite");
    QVERIFY(run(cli + " study create --model " + d + "/model --bench " + d + "/bench --out " + study_.toStdString() +
                " --pope-per-split 6 --sqa 6 --calibration-samples 6"));
    QVERIFY(run(cli + " baseline --study " + study_.toStdString() + " --method random --evals 4 --cache-dir none"));
  }

  void preferenceSlidersStayOnTheSimplex() {
    PreferencePanel panel;
    QSignalSpy changed(&panel, &PreferencePanel::preferenceChanged);
    panel.slider(0)->setValue(700);
    auto w = panel.preference();
    QCOMPARE(w[0], 0.7);
    QVERIFY(std::abs(w[0] + w[1] + w[2] - 1) < 1e-9);
    QVERIFY(std::abs(w[1] - w[2]) < 1e-9);  // they were equal, they stay equal
    panel.slider(2)->setValue(1000);
    w = panel.preference();
    QCOMPARE(w[2], 1.0);
    QVERIFY(std::abs(w[0]) < 1e-9 && std::abs(w[1]) < 1e-9);
    QCOMPARE(panel.slider(0)->value(), 0);  // the other sliders moved with it
    QVERIFY(changed.count() >= 2);
    panel.fixSparsityBox()->setChecked(true);
    QVERIFY(panel.fixedSparsity().has_value());
  }

  void cloudTogglesSelectsAndExports() {
    OperatingPointCloud cloud;
    cloud.resize(900, 600);
    cloud.show();
    cloud.setTrials(sample_trials());
    QCOMPARE(cloud.drawnPointCount(), 5);
    QVERIFY(cloud.originToggle("grpo"));
    cloud.originToggle("grpo")->setChecked(false);
    QCOMPARE(cloud.drawnPointCount(), 3);
    cloud.originToggle("grpo")->setChecked(true);
    cloud.dominatedToggle()->setChecked(false);
    QCOMPARE(cloud.drawnPointCount(), 3);  // the front only: trials 2, 4, 5
    cloud.dominatedToggle()->setChecked(true);
    QCOMPARE(static_cast<int>(cloud.data().links.size()), 1);  // the fine-tune joined to its parent

    // Clicking where a point is drawn selects it.
    cloud.plot()->replot();
    QSignalSpy selected(&cloud, &OperatingPointCloud::trialSelected);
    const auto& p = cloud.data().points[3];  // trial 4
    const QPoint at(static_cast<int>(cloud.plot()->xAxis->coordToPixel(p.x)),
                    static_cast<int>(cloud.plot()->yAxis->coordToPixel(p.y)));
    QCOMPARE(cloud.trialAt(at).value_or(-1), int64_t{4});
    QTest::mouseClick(cloud.plot(), Qt::LeftButton, Qt::NoModifier, at);
    QCOMPARE(selected.count(), 1);
    QCOMPARE(selected.takeFirst().at(0).value<qint64>(), qint64{4});
    QVERIFY(!cloud.trialAt(QPoint(2, 2)));

    const QString png = dir_.filePath("cloud.png"), csv = dir_.filePath("front.csv");
    QVERIFY(cloud.exportImage(png));
    QFile image(png);
    QVERIFY(image.open(QIODevice::ReadOnly));
    QCOMPARE(image.read(4), QByteArray("\x89PNG"));
    QVERIFY(cloud.exportFrontCsv(csv));
    QFile table(csv);
    QVERIFY(table.open(QIODevice::ReadOnly));
    const auto lines = QString(table.readAll()).split('\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 6);                // header + 5 trials
    QVERIFY(lines[1].startsWith("4,query"));  // the front first, by x
  }

  void cloudDrawsAnEstimateOnlyNearItsSparsityAndMovesTheLegend() {
    OperatingPointCloud cloud;
    cloud.resize(900, 600);
    cloud.show();
    cloud.setTrials(sample_trials());  // every one at s = 0.5
    auto proposal_graphs = [&cloud](const QString& name) {
      int n = 0;
      for (int i = 0; i < cloud.plot()->graphCount(); ++i) n += cloud.plot()->graph(i)->name() == name ? 1 : 0;
      return n;
    };
    PlanView far;
    far.sparsity = 0.275;  // not evaluated, no plan near its sparsity: nothing drawn
    cloud.setProposal(far);
    QCOMPARE(proposal_graphs("proposal (estimate)"), 0);
    PlanView near = far;
    near.sparsity = 0.52;
    cloud.setProposal(near);
    QCOMPARE(proposal_graphs("proposal (estimate)"), 1);

    // The legend sits in the corner legend_corner picks for the view shown.
    cloud.plot()->replot();
    const auto x = cloud.plot()->xAxis->range(), y = cloud.plot()->yAxis->range();
    const auto corner = legend_corner(cloud.data(), x.lower, x.upper, y.lower, y.upper);
    const Qt::Alignment align = cloud.plot()->axisRect()->insetLayout()->insetAlignment(0);
    const bool top = corner == LegendCorner::TopLeft || corner == LegendCorner::TopRight;
    const bool left = corner == LegendCorner::TopLeft || corner == LegendCorner::BottomLeft;
    QCOMPARE(bool(align & Qt::AlignTop), top);
    QCOMPARE(bool(align & Qt::AlignLeft), left);
  }

  void detailsShowTheSelectedPlan() {
    PlanDetails details;
    QVERIFY(!details.exportBlueprintButton()->isEnabled());
    PlanView view = sample_view(7, "uniform", 0.81, 0.6, {0.5, 0.4, 0.6});
    details.setDense({{"search", {{"pope_mean_f1", 0.9}}}});
    details.showPlan(view);
    QVERIFY(details.exportBlueprintButton()->isEnabled());
    QVERIFY(details.finetuneButton()->isEnabled());
    bool found = false;
    for (int r = 0; r < details.table()->rowCount(); ++r)
      if (details.table()->item(r, 0)->text() == "POPE mean F1") {
        QCOMPARE(details.table()->item(r, 1)->text(), QString("0.810"));
        QCOMPARE(details.table()->item(r, 2)->text(), QString("0.900"));
        found = true;
      }
    QVERIFY(found);
    view.parent = 3;  // a fine-tuned child cannot be fine-tuned again
    details.showPlan(view);
    QVERIFY(!details.finetuneButton()->isEnabled());
  }

  // Screen-reader basics: every control that shows no text of its own (a
  // slider, a spin box, a combo box, a progress bar, a table, a text log, a
  // plot) has an accessible name, and the plots say in words what they draw.
  void controlsHaveAccessibleNames() {
    PreferencePanel preferences;
    PlanDetails details;
    OperatingPointCloud cloud;
    JobPanel jobs;
    for (QWidget* panel : std::initializer_list<QWidget*>{&preferences, &details, &cloud, &jobs})
      for (QWidget* w : panel->findChildren<QWidget*>()) {
        const bool textless = qobject_cast<QAbstractSlider*>(w) || qobject_cast<QAbstractSpinBox*>(w) ||
                              qobject_cast<QComboBox*>(w) || qobject_cast<QProgressBar*>(w) ||
                              qobject_cast<QTableWidget*>(w) || qobject_cast<QPlainTextEdit*>(w) ||
                              qobject_cast<QCustomPlot*>(w);
        if (textless && !qobject_cast<QScrollBar*>(w))  // a scroll area's own bars
          QVERIFY2(!w->accessibleName().isEmpty(),
                   qPrintable(QString("%1 in %2").arg(w->metaObject()->className(), panel->metaObject()->className())));
      }
    details.showPlan(sample_view(7, "uniform", 0.81, 0.6, {0.5, 0.4, 0.6}));
    const auto* plot = details.findChild<QCustomPlot*>();
    QVERIFY(plot);
    QVERIFY2(plot->accessibleDescription().contains("0.50, 0.40, 0.60"), qPrintable(plot->accessibleDescription()));
  }

  void detailsNeverElideNumbers() {
    PlanDetails details;
    details.resize(300, 700);
    details.show();
    const PlanView view = sample_view(8, "uniform", 0.81, 0.6, {0.5, 0.4, 0.6});
    details.setDense({{"search", {{"pope_mean_f1", 0.9}}}});
    details.showPlan(view);
    QApplication::processEvents();
    const auto* table = details.table();
    const int needed = table->fontMetrics().horizontalAdvance("0.810");
    for (int c = 1; c < 4; ++c) QVERIFY2(table->columnWidth(c) >= needed, qPrintable(QString("column %1").arg(c)));
  }

  void comparingTwoPlans() {
    const PlanView a = sample_view(1, "uniform", 0.80, 0.60, {0.5, 0.5});
    const PlanView b = sample_view(2, "query", 0.85, 0.55, {0.9, 0.1, 0.4});
    const auto rows = compare_plans(a, b);
    auto find = [&](const QString& label) {
      for (const auto& r : rows)
        if (r.label == label) return r;
      return ComparisonRow{"missing", std::nan(""), std::nan("")};
    };
    QCOMPARE(find("POPE mean F1").a, 0.80);
    QCOMPARE(find("POPE mean F1").b, 0.85);
    QCOMPARE(find("ScienceQA").b, 0.55);
    QVERIFY(std::abs(find("layer 1 removed").b - 0.9) < 1e-12);
    QVERIFY(std::isnan(find("layer 2 removed").a));  // A has two layers
    PlanCompare view;
    view.setPlans(a, b);
    for (int r = 0; r < view.table()->rowCount(); ++r)
      if (view.table()->item(r, 0)->text() == "POPE mean F1")
        QCOMPARE(view.table()->item(r, 3)->text(), QString("+0.050"));

    // Ctrl+click a second point of the cloud: it is marked for comparison.
    OperatingPointCloud cloud;
    cloud.resize(900, 600);
    cloud.show();
    cloud.setTrials(sample_trials());
    cloud.plot()->replot();
    QSignalSpy compared(&cloud, &OperatingPointCloud::trialCompared);
    auto at = [&](size_t i) {
      const auto& p = cloud.data().points[i];
      return QPoint(static_cast<int>(cloud.plot()->xAxis->coordToPixel(p.x)),
                    static_cast<int>(cloud.plot()->yAxis->coordToPixel(p.y)));
    };
    QTest::mouseClick(cloud.plot(), Qt::LeftButton, Qt::NoModifier, at(0));
    QTest::mouseClick(cloud.plot(), Qt::LeftButton, Qt::ControlModifier, at(3));
    QCOMPARE(compared.count(), 1);
    QCOMPARE(cloud.selectedTrial().value_or(-1), cloud.data().points[0].trial);
    QCOMPARE(cloud.comparedTrial().value_or(-1), cloud.data().points[3].trial);

    // From the keyboard: next / previous along x, wrapping around.
    OperatingPointCloud keys;
    keys.setTrials(sample_trials());
    keys.selectNeighbour(1);
    const auto first = keys.selectedTrial();
    QVERIFY(first.has_value());
    keys.selectNeighbour(1);
    QVERIFY(keys.selectedTrial() != first);
    keys.selectNeighbour(-1);
    QCOMPARE(keys.selectedTrial(), first);
    keys.selectNeighbour(-1);  // wraps to the last point
    double max_x = -1e9;
    int64_t last = 0;
    for (const auto& p : keys.data().points)
      if (p.x >= max_x) max_x = p.x, last = p.trial;
    QCOMPARE(keys.data().points.empty() ? 0 : keys.selectedTrial().value_or(-1), last);
  }

  void windowFitsTheScreen() {
    MainWindow window;
    window.show();
    const QRect free = window.screen()->availableGeometry();
    QTRY_VERIFY_WITH_TIMEOUT(window.frameGeometry().width() <= free.width(), 2000);
    QVERIFY2(window.frameGeometry().width() <= free.width() && window.frameGeometry().height() <= free.height(),
             qPrintable(QString("window %1x%2, screen %3x%4")
                            .arg(window.frameGeometry().width())
                            .arg(window.frameGeometry().height())
                            .arg(free.width())
                            .arg(free.height())));
  }

  void windowOpensANewStudyWithoutTheOldOneAndSurvivesACorruptOne() {
    MainWindow window;
    window.show();
    QSignalSpy ready(&window, &MainWindow::studyReady);
    QSignalSpy finished(&window.worker(), &EngineWorker::jobFinished);
    window.openStudy(study_);
    QVERIFY(ready.wait(60000));
    QVERIFY(window.selectBestTrial());
    QVERIFY(window.cloud()->drawnPointCount() > 0);

    // A new, empty study: nothing of the old one stays on screen.
    const std::string d = dir_.path().toStdString();
    const QString empty = dir_.filePath("empty.sqlite");
    QVERIFY(run(std::string(HIPP_CLI_PATH) + " study create --model " + d + "/model --bench " + d + "/bench --out " +
                empty.toStdString() + " --pope-per-split 6 --sqa 6 --calibration-samples 6"));
    window.openStudy(empty);
    QCOMPARE(window.cloud()->drawnPointCount(), 0);
    QVERIFY(window.details()->plan() == nullptr);
    QVERIFY(ready.wait(60000));
    window.refreshTrials();
    QCOMPARE(window.cloud()->drawnPointCount(), 0);
    QVERIFY(window.details()->plan() == nullptr);
    QVERIFY(window.statusText().startsWith("empty.sqlite"));

    // A corrupt file: the failure is reported (the message box closed here)
    // and the window says no study is open instead of "opening ...".
    const QString corrupt = dir_.filePath("corrupt.sqlite");
    {
      std::ofstream out(corrupt.toStdString());
      out << "this is not a study";
    }
    QTimer closer;
    QObject::connect(&closer, &QTimer::timeout, [] {
      if (auto* box = QApplication::activeModalWidget()) box->close();
    });
    closer.start(100);
    // The two earlier openings finish first (the window shows a study before
    // its job ends, when the model still loads): their reports, both
    // successes, must not be taken for the corrupt file's.
    QCOMPARE(wait_job(finished, "Open study", 60000).first, true);
    QCOMPARE(wait_job(finished, "Open study", 60000).first, true);
    finished.clear();
    window.openStudy(corrupt);
    QCOMPARE(wait_job(finished, "Open study", 30000).first, false);
    QTRY_COMPARE_WITH_TIMEOUT(window.statusText(), QString("no study open"), 5000);
    QCOMPARE(window.cloud()->drawnPointCount(), 0);
    closer.stop();
  }

  void trainingAddsIterations() {
    MainWindow window;
    QSignalSpy ready(&window, &MainWindow::studyReady);
    QSignalSpy finished(&window.worker(), &EngineWorker::jobFinished);
    // A copy: the other window tests count the shared study's points.
    const QString copy = dir_.filePath("train.sqlite");
    QVERIFY(QFile::copy(study_, copy));
    window.openStudy(copy);
    QVERIFY(ready.wait(60000));
    QSignalSpy progress(&window.worker(), &EngineWorker::jobProgress);
    QSignalSpy started(&window.worker(), &EngineWorker::jobStarted);
    window.worker().train(1, 0);
    auto [ok, message] = wait_job(finished, "Train policy", 240000);
    QVERIFY2(ok, qPrintable(message));
    QCOMPARE(message, QString("1 new iterations, 1 in all"));
    // Typed jobs and structured progress: the kind, the phase, the step of the total.
    QVERIFY(!started.isEmpty());
    QCOMPARE(started.takeFirst().at(0).value<JobKind>(), JobKind::Train);
    bool stepped = false;
    for (const auto& args : progress) {
      const auto p = args.at(0).value<JobProgress>();
      stepped |= p.phase == "training" && p.step == 1 && p.total == 1;
    }
    QVERIFY(stepped);
    window.worker().train(1, 0);
    std::tie(ok, message) = wait_job(finished, "Train policy", 240000);
    QVERIFY2(ok, qPrintable(message));
    QCOMPARE(message, QString("1 new iterations, 2 in all"));

    // The robustness-utility curve: in the Search menu, evaluated in the
    // background, drawn over the cloud in path order.
    bool in_menu = false;
    for (auto* menu : window.menuBar()->findChildren<QMenu*>())
      for (auto* action : menu->actions()) in_menu |= action->text().contains("curve", Qt::CaseInsensitive);
    QVERIFY(in_menu);
    window.worker().curve(Preference{1, 0, 0}, Preference{0, 1, 0}, 3, 0.5, Subset::Search);
    std::tie(ok, message) = wait_job(finished, "Curve", 240000);
    QVERIFY2(ok, qPrintable(message));
    QCOMPARE(message, QString("curve 1: 3 plans at s = 0.50"));
    window.refreshTrials();
    QCOMPARE(static_cast<int>(window.cloud()->data().curve.size()), 3);
    QCOMPARE(window.cloud()->data().curve_id, int64_t{1});

    // Fine-tune the same plan twice: the second run gets its own folder
    // instead of failing on the first one's.
    window.cloud()->subsetBox()->setCurrentIndex(0);
    QVERIFY(window.selectBestTrial());
    const int64_t plan = window.details()->plan()->trial;
    const QString out = dir_.filePath("tuned");
    QVERIFY(QDir().mkpath(out));
    window.worker().finetune(plan, 2, out);
    std::tie(ok, message) = wait_job(finished, "Fine-tune", 240000);
    QVERIFY2(ok, qPrintable(message));
    window.worker().finetune(plan, 2, out);
    QString second;
    std::tie(ok, second) = wait_job(finished, "Fine-tune", 240000);
    QVERIFY2(ok, qPrintable(second));
    QVERIFY2(second.endsWith("-finetuned-2)"), qPrintable(second));
    QCOMPARE(QDir(out).entryList(QDir::Dirs | QDir::NoDotAndDotDot).size(), 2);

    // While a job holds the engine the proposal says it is waiting, and why;
    // it follows the sliders again once the job ends.
    window.worker().runBaseline("random", 500);
    QTRY_VERIFY_WITH_TIMEOUT(window.jobs()->running(), 10000);
    window.preferences()->slider(0)->setValue(900);
    QVERIFY2(window.preferences()->proposalText().contains("waiting"),
             qPrintable(window.preferences()->proposalText()));
    window.worker().cancel();
    QCOMPARE(wait_job(finished, "Baseline", 60000).second, QString("cancelled"));
    QTRY_VERIFY_WITH_TIMEOUT(window.preferences()->proposalText().startsWith("s = "), 30000);
  }

  void windowOpensSelectsExportsAndCancels() {
    MainWindow window;
    window.show();
    QSignalSpy ready(&window, &MainWindow::studyReady);
    window.openStudy(study_);
    QVERIFY(ready.wait(60000));
    QCOMPARE(window.cloud()->drawnPointCount(), 4);
    QVERIFY(window.selectBestTrial());
    QVERIFY(window.details()->plan() != nullptr);
    QVERIFY(window.details()->exportBlueprintButton()->isEnabled());
    const int64_t trial = window.details()->plan()->trial;
    // The dense model's size and cost stand beside the plan's.
    int cost_rows = 0;
    for (int r = 0; r < window.details()->table()->rowCount(); ++r) {
      const QString label = window.details()->table()->item(r, 0)->text();
      if (label.startsWith("LM parameters") || label.startsWith("decoder GFLOPs")) {
        QVERIFY2(window.details()->table()->item(r, 2)->text() != "-", qPrintable(label));
        ++cost_rows;
      }
    }
    QCOMPARE(cost_rows, 2);
    // Ctrl+click on another point opens the two plans side by side.
    for (const auto& p : window.cloud()->data().points)
      if (p.trial != trial) {
        window.cloud()->compareTrial(p.trial);
        break;
      }
    auto* compare = window.findChild<PlanCompare*>();
    QVERIFY(compare && compare->isVisible());
    QVERIFY(compare->table()->rowCount() > 10);

    // Export through the engine thread; the file is a valid blueprint.
    QSignalSpy finished(&window.worker(), &EngineWorker::jobFinished);
    const QString path = dir_.filePath("exported.json");
    window.worker().exportBlueprint(trial, path);
    QCOMPARE(wait_job(finished, "Export blueprint", 30000).first, true);
    const auto blueprint = read_blueprint(path.toStdString());
    QCOMPARE(static_cast<double>(blueprint.achieved_sparsity), window.details()->plan()->sparsity);

    // A long job stops when cancelled, and the window stays usable.
    window.worker().runBaseline("random", 500);
    QTRY_VERIFY_WITH_TIMEOUT(window.jobs()->running(), 10000);
    QTest::qWait(300);
    QTest::mouseClick(window.jobs()->cancelButton(), Qt::LeftButton);
    const auto [ok, message] = wait_job(finished, "Baseline", 60000);
    QCOMPARE(ok, false);
    QCOMPARE(message, QString("cancelled"));
    QVERIFY(!window.jobs()->running());
    window.refreshTrials();
    QVERIFY(window.cloud()->drawnPointCount() < 4 + 500);
  }
};

QTEST_MAIN(WidgetTests)
#include "test_widgets.moc"
