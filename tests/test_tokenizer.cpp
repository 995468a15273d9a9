#include <gtest/gtest.h>

#include <sstream>

#include "core/error.h"
#include "model/presets.h"
#include "model/tokenizer.h"
#include "support.h"

namespace hipp {
namespace {

class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    TokenizerTraining training;
    training.vocab_size = 384;
    training.user_symbols = {"<image>"};
    train_tokenizer(builtin_corpus(), training, dir_->file("tokenizer.model"));
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string model_path() { return dir_->file("tokenizer.model"); }
  static test::TempDir* dir_;
};
test::TempDir* TokenizerTest::dir_ = nullptr;

const char* kSamples[] = {
    "Is there a dog in the image?",
    "USER: <image>\nWhat objects are in the image? ASSISTANT:",
    "A horse is heavier than a cup, and 42 apples are red.",
    "  two  spaces, a trailing one ",
    "Unseen letters: zebra quiz \xC3\xA9t\xC3\xA9 \xE2\x9C\x93",
    "Answer with the option's letter from the given choices directly.",
};

TEST_F(TokenizerTest, SpecialIdsFollowLlama) {
  auto t = Tokenizer::load(model_path());
  EXPECT_EQ(t.unk_id(), 0);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_GE(t.piece_id("<image>"), 3);
  EXPECT_EQ(t.piece_id("definitely-not-a-piece"), -1);
  EXPECT_EQ(t.piece(t.piece_id("<image>")), "<image>");
}

// The reference encoder is sentencepiece's own spm_encode.
TEST_F(TokenizerTest, EncodingMatchesSentencepiece) {
  auto t = Tokenizer::load(model_path());
  for (const char* sample : kSamples) {
    test::TempDir dir;
    std::string text = sample;
    for (auto& c : text)
      if (c == '\n') c = ' ';  // spm_encode reads one sentence a line
    test::write_bytes(dir.file("in.txt"), text + "\n");
    std::string output;
    ASSERT_EQ(test::run_command("spm_encode --model=" + model_path() + " --output_format=id < " + dir.file("in.txt"),
                                &output),
              0)
        << output;
    std::istringstream reference(output);
    std::vector<int64_t> expected;
    for (int64_t id; reference >> id;) expected.push_back(id);
    EXPECT_EQ(t.encode(text), expected) << text;
  }
}

TEST_F(TokenizerTest, DecodeInvertsEncode) {
  auto t = Tokenizer::load(model_path());
  for (const char* sample : kSamples) EXPECT_EQ(t.decode(t.encode(sample)), sample);
}

TEST_F(TokenizerTest, UserSymbolStaysWhole) {
  auto t = Tokenizer::load(model_path());
  const auto ids = t.encode("a<image>b");
  EXPECT_NE(std::find(ids.begin(), ids.end(), t.piece_id("<image>")), ids.end());
}

TEST(Tokenizer, InvalidFilesAreClearErrors) {
  test::TempDir dir;
  EXPECT_THROW(Tokenizer::load(dir.file("absent.model")), Error);
  test::write_bytes(dir.file("junk.model"), "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
  try {
    Tokenizer::load(dir.file("junk.model"));
    FAIL() << "accepted junk";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.model"), std::string::npos);
  }
  test::write_bytes(dir.file("empty.model"), "");
  EXPECT_THROW(Tokenizer::load(dir.file("empty.model")), Error);
}

// A byte-fallback piece that does not spell <0xHH> (found by fuzz_tokenizer,
// docs/fuzzing.md): an error naming the piece, not an exception from deep
// inside the standard library or a write before the byte table.
TEST(Tokenizer, MalformedBytePiecesAreClearErrors) {
  const std::string good = test::read_bytes(std::string(HIPP_DEMO_DATA) + "/model/tokenizer.model");
  const auto at = good.find("<0x41>");
  ASSERT_NE(at, std::string::npos) << "the demo tokenizer has byte-fallback pieces";
  EXPECT_NO_THROW(Tokenizer::parse(good, "demo"));
  for (const char* piece : {"<0xZZ>", "<0x-1>", "<0x4 >"}) {
    std::string bad = good;
    bad.replace(at, 6, piece);
    try {
      Tokenizer::parse(bad, "bad.model");
      FAIL() << "accepted " << piece;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.model: byte piece"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace hipp
