#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/error.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "support.h"

namespace hipp {
namespace {

std::string length_prefix(uint64_t n) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return bytes;
}

// A file with the given header JSON and `data_bytes` zero bytes of data.
std::string file_with(const std::string& header, size_t data_bytes) {
  return length_prefix(header.size()) + header + std::string(data_bytes, '\0');
}

// Expects reading `bytes` as safetensors to fail with a message containing `needle`.
void expect_rejected(const std::string& bytes, const std::string& needle) {
  test::TempDir dir;
  const auto path = dir.file("model.safetensors");
  test::write_bytes(path, bytes);
  try {
    read_safetensors_header(path);
    FAIL() << "accepted a malformed file; expected: " << needle;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(needle), std::string::npos) << message;
    EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
  }
}

TEST(Safetensors, ValidHeaderParses) {
  const std::string header = R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},)"
                             R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const auto h = parse_safetensors_header(header, 12, "x");
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "a");  // sorted by offset
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.find("b")->dtype, DType::F16);
}

TEST(Safetensors, MalformedFilesAreClearErrors) {
  expect_rejected("abc", "too short");
  expect_rejected(length_prefix(1000) + "{}", "runs past the end");
  expect_rejected(length_prefix(uint64_t{1} << 40) + "{}", "exceeds the limit");
  expect_rejected(file_with("{not json", 0), "not valid JSON");
  expect_rejected(file_with(R"({"t":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", 1), "unknown dtype 'Q4'");
  expect_rejected(file_with(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "past the data buffer");
  expect_rejected(file_with(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "shape needs 12 bytes");
  expect_rejected(file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                            12),
                  "overlaps");
  expect_rejected(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "hole");
  expect_rejected(file_with(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0), "invalid shape");
  expect_rejected(file_with(R"({"t":{"dtype":"F32","shape":[1]}})", 4), "data_offsets");
  expect_rejected(file_with(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8), "end before begin");
  expect_rejected(file_with(R"([1,2])", 0), "not a JSON object");
  expect_rejected(file_with(R"({"t":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,4]}})", 4),
                  "too large");
}

TEST(Safetensors, WriteReadRoundTripIsBitIdentical) {
  test::TempDir dir;
  const auto path = dir.file("t.safetensors");
  NamedTensors tensors = {{"f32", torch::randn({3, 5})},
                          {"f16", torch::randn({7}).to(torch::kFloat16)},
                          {"bf16", torch::randn({2, 2, 2}).to(torch::kBFloat16)},
                          {"i64", torch::arange(6, torch::kInt64)},
                          {"empty", torch::zeros({0, 4})}};
  write_safetensors(path, tensors, {{"format", "pt"}});
  const auto header = read_safetensors_header(path);
  EXPECT_EQ(header.data_start % 8, 0u);
  for (const auto& [name, tensor] : tensors) {
    const auto* entry = header.find(name);
    ASSERT_NE(entry, nullptr) << name;
    auto back = read_tensor(header, *entry);
    EXPECT_EQ(back.scalar_type(), tensor.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(back, tensor)) << name;
  }
}

TEST(Safetensors, MissingCheckpointFilesAreClearErrors) {
  test::TempDir dir;
  EXPECT_THROW(open_checkpoint_files(dir.path()), Error);
  test::write_bytes(dir.file("model.safetensors.index.json"),
                    R"({"weight_map": {"a": "model-00001-of-00002.safetensors"}})");
  try {
    open_checkpoint_files(dir.path());
    FAIL() << "accepted an index whose shard is missing";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model-00001-of-00002.safetensors"), std::string::npos);
  }
  test::write_bytes(dir.file("model.safetensors.index.json"), R"({"weight_map": {"a": "../escape.safetensors"}})");
  EXPECT_THROW(open_checkpoint_files(dir.path()), Error);
}

TEST(Safetensors, IndexMustAgreeWithShards) {
  test::TempDir dir;
  write_safetensors(dir.file("s1.safetensors"), {{"a", torch::ones({2})}, {"b", torch::ones({2})}});
  test::write_bytes(dir.file("model.safetensors.index.json"),
                    R"({"weight_map": {"a": "s1.safetensors", "c": "s1.safetensors"}})");
  EXPECT_THROW(open_checkpoint_files(dir.path()), Error);  // "c" is not in the shard
  test::write_bytes(dir.file("model.safetensors.index.json"), R"({"weight_map": {"a": "s1.safetensors"}})");
  EXPECT_THROW(open_checkpoint_files(dir.path()), Error);  // "b" is not in the index
  test::write_bytes(dir.file("model.safetensors.index.json"),
                    R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}})");
  const auto files = open_checkpoint_files(dir.path());
  EXPECT_EQ(files.shards.size(), 1u);
  EXPECT_EQ(files.tensor_shard.size(), 2u);
}

}  // namespace
}  // namespace hipp
