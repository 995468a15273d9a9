// hipp-explorer: the Pareto explorer desktop app.
//   hipp-explorer                     reopens the last study (or offers to build the demo)
//   hipp-explorer STUDY.sqlite        opens a study
//   --device cuda[:N] [--dtype bf16]  the engine computes there (a LibTorch with CUDA: docs/cuda.md)
//   --screenshot FILE [--select T] [--scores search|full]
//                                     opens the study, shows the plans scored on that subset, selects trial T
//                                     (or the best point), saves the window, quits
//   --stall-bench ITERATIONS          opens the study, trains the policy, prints the longest event-loop stall, quits
#include <csignal>
#include <cstdio>

#include <QApplication>
#include <QComboBox>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QSettings>
#include <QTimer>

#include "core/version.h"
#include "engine_worker.h"
#include "main_window.h"
#include "study_jobs.h"
#include "operating_point_cloud.h"
#include "study/pg_store.h"

int main(int argc, char** argv) {
  // A file-size limit makes writes fail (EFBIG) and the job report it, not a signal kill the app.
  std::signal(SIGXFSZ, SIG_IGN);
  // --help and --version print and quit: they must work without a display.
  for (int i = 1; i < argc; ++i) {
    const QByteArray arg(argv[i]);
    if (arg == "--help" || arg == "-h" || arg == "--help-all" || arg == "--version" || arg == "-v")
      qputenv("QT_QPA_PLATFORM", "offscreen");
  }
  QApplication app(argc, argv);
  QApplication::setApplicationName("hipp-explorer");
  QApplication::setOrganizationName("hipp-prune");
  QApplication::setApplicationVersion(hipp::kVersion);
  QApplication::setWindowIcon(QIcon(":/hipp-explorer.svg"));

  QCommandLineParser parser;
  parser.setApplicationDescription("Explore preference-conditioned pruning plans of a vision-language model");
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument("study",
                               "study file or postgresql://...?study=NAME URL to open (default: the last one)");
  QCommandLineOption screenshot("screenshot", "save a screenshot of the window with the best point selected, then quit",
                                "file");
  QCommandLineOption stall("stall-bench", "train the policy for N iterations and print the longest event-loop stall",
                           "iterations");
  QCommandLineOption select("select", "with --screenshot: the trial to select (default: the best on the y axis)",
                            "trial");
  QCommandLineOption scores("scores", "with --screenshot: show the plans scored on 'search' (default) or 'full'",
                            "subset", "search");
  QCommandLineOption device("device", "where the engine computes: cpu (default), cuda or cuda:N", "device", "cpu");
  QCommandLineOption dtype("dtype", "the weights' dtype: f32 (default), f16 or bf16", "dtype", "f32");
  parser.addOption(device);
  parser.addOption(dtype);
  parser.addOption(screenshot);
  parser.addOption(select);
  parser.addOption(scores);
  parser.addOption(stall);
  parser.process(app);
  const hipp::gui::EngineDevice engine{parser.value(device).toStdString(), parser.value(dtype).toStdString()};
  if (const auto problem = hipp::gui::engine_device_problem(engine); !problem.empty()) {
    std::fprintf(stderr, "hipp-explorer: %s\n", problem.c_str());
    return 2;
  }

  hipp::gui::MainWindow window;
  window.worker().setEngineDevice(engine.device, engine.dtype);
  window.show();
  const auto args = parser.positionalArguments();
  QString study = args.isEmpty() ? QString() : args.first();
  const bool scripted = parser.isSet(screenshot) || parser.isSet(stall);
  if (scripted && study.isEmpty()) {
    std::fprintf(stderr, "hipp-explorer: --screenshot and --stall-bench need a study file\n");
    return 2;
  }
  if (!study.isEmpty() && !hipp::is_postgresql_url(study.toStdString()) && !QFileInfo::exists(study)) {
    std::fprintf(stderr, "hipp-explorer: %s does not exist\n", qPrintable(study));
    return 1;
  }
  int exit_code = 0;
  if (scripted) {
    // Scripted runs stop on the first error instead of showing a message box.
    QObject::connect(&window.worker(), &hipp::gui::EngineWorker::jobFinished, &app,
                     [&](hipp::gui::JobKind, const QString& name, bool ok, const QString& message) {
                       if (ok) return;
                       std::fprintf(stderr, "hipp-explorer: %s failed: %s\n", qPrintable(name), qPrintable(message));
                       exit_code = 1;
                       QApplication::exit(1);
                     });
  }
  if (parser.isSet(screenshot)) {
    const QString path = parser.value(screenshot);
    const qint64 chosen = parser.value(select).toLongLong();
    const QString subset = parser.value(scores);
    QObject::connect(&window, &hipp::gui::MainWindow::studyReady, &app, [&window, path, chosen, subset] {
      window.refreshTrials();
      auto* subsets = window.cloud()->subsetBox();
      if (const int index = subsets->findData(subset); index >= 0) subsets->setCurrentIndex(index);
      if (chosen > 0) {
        window.cloud()->selectTrial(chosen);
      } else {
        window.selectBestTrial();
      }
      QTimer::singleShot(500, &window, [&window, path] {
        const bool saved = window.grab().save(path);
        std::printf("%s %s\n", saved ? "saved" : "could not save", qPrintable(path));
        QApplication::exit(saved ? 0 : 1);
      });
    });
  }
  if (parser.isSet(stall)) {
    const int iterations = parser.value(stall).toInt();
    QObject::connect(&window, &hipp::gui::MainWindow::studyReady, &app, [&window, iterations] {
      window.stallMeter()->reset();
      window.worker().train(iterations, 0);
    });
    QObject::connect(&window.worker(), &hipp::gui::EngineWorker::jobFinished, &app,
                     [&window](hipp::gui::JobKind kind, const QString&, bool ok, const QString&) {
                       if (kind != hipp::gui::JobKind::Train || !ok) return;
                       std::printf("longest event-loop stall while training: %.1f ms\n",
                                   window.stallMeter()->maxStallMs());
                       QApplication::exit(0);
                     });
  }
  if (!study.isEmpty()) {
    window.openStudy(study);
  } else {
    const QString last = QSettings().value("studies/last").toString();
    if (!last.isEmpty() && QFileInfo::exists(last)) {
      window.openStudy(last);
    } else {
      QTimer::singleShot(0, &window, [&window] { window.offerDemo(); });
    }
  }
  const int code = app.exec();
  return exit_code ? exit_code : code;
}
