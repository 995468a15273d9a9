#pragma once
// Scores answer files produced by generation (this tool's --answers-dir, or
// LLaVA's own evaluation scripts) with the official text rules: POPE reads
// the first sentence ("no"/"not" means no), ScienceQA reads the option letter
// ("B", "B. ...", "The answer is B."; anything else is a failed answer).
// Answers join the questions on question_id, never on file order. Torch-free.
#include <string>

#include "eval/benchmark.h"
#include "eval/metrics.h"

namespace hipp {

// Reads ANSWERS_DIR/pope_{random,popular,adversarial}.jsonl (for the splits
// the benchmark has) and ANSWERS_DIR/scienceqa.jsonl. A malformed line names
// its file and line; a question without an answer is an error naming it.
BenchmarkResult score_answer_files(const Benchmark& benchmark, const std::string& answers_dir);

}  // namespace hipp
