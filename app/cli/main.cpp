// hipp-prune: the command line over the hipp engine.
// Exit codes: 0 success, 1 failure (one-line error on stderr), 2 bad usage.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/version.h"
#include "model/checkpoint.h"

namespace hipp::cli {

namespace {
std::atomic<bool> g_cancel{false};
extern "C" void on_signal(int) { g_cancel.store(true); }
}  // namespace

const std::atomic<bool>* install_cancel_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  return &g_cancel;
}

void progress_line(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

LoadOptions load_options(const CommonOptions& common) {
  LoadOptions load;
  load.device = parse_device(common.device);
  load.dtype = parse_dtype(common.dtype);
  return load;
}

std::string feature_cache_dir(const std::string& arg) {
  if (arg == "none") return "";
  return arg.empty() ? default_cache_dir() + "/features" : arg;
}

void apply_common(const CommonOptions& common) {
  const int used = use_threads(common.threads);
  if (common.threads > used)
    std::fprintf(stderr, "hipp-prune: --threads %d is more than the %d cores here; using %d\n", common.threads, used,
                 used);
  torch::manual_seed(common.seed);
}

}  // namespace hipp::cli

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) makes writes fail with EFBIG, reported and
  // cleaned up like any other failed write, instead of killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"hipp-prune: preference-conditioned structured pruning of vision-language models", "hipp-prune"};
  app.set_version_flag("--version", std::string("hipp-prune ") + hipp::kVersion);
  app.require_subcommand(1);
  app.fallthrough();

  hipp::cli::CommonOptions common;
  app.add_option("--device", common.device, "cpu or cuda")->capture_default_str();
  app.add_option("--dtype", common.dtype, "weights dtype: f32, f16 or bf16")->capture_default_str();
  app.add_option("--threads", common.threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--seed", common.seed, "random seed")->capture_default_str();
  app.add_flag("--json", common.json, "machine-readable output on stdout");

  hipp::cli::add_model_commands(app, common);
  hipp::cli::add_benchmark_commands(app, common);
  hipp::cli::add_prune_commands(app, common);
  hipp::cli::add_study_commands(app, common);
  hipp::cli::add_policy_commands(app, common);
  hipp::cli::add_finetune_commands(app, common);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    if (message.empty()) message = "invalid arguments";
    std::fprintf(stderr, "hipp-prune: %s (see 'hipp-prune --help')\n", message.c_str());
    return 2;
  } catch (const hipp::Cancelled&) {
    std::fprintf(stderr, "hipp-prune: cancelled; nothing was left half-written\n");
    return 130;
  } catch (const hipp::Error& e) {
    std::fprintf(stderr, "hipp-prune: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    // LibTorch's own messages carry a backtrace; its first line is the cause.
    std::string message = e.what();
    message = message.substr(0, message.find('\n'));
    std::fprintf(stderr, "hipp-prune: error: %s\n", message.c_str());
    return 1;
  }
  return 0;
}
