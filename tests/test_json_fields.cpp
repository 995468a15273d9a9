#include <gtest/gtest.h>

#include "core/json_fields.h"
#include "support.h"

namespace hipp {
namespace {

TEST(JsonFields, RequiredFieldReportsMissingAndWrongType) {
  const nlohmann::json j = {{"n", 3}, {"s", "text"}};
  EXPECT_EQ(required_field<int64_t>(j, "n", "f.json"), 3);
  try {
    required_field<int64_t>(j, "absent", "f.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "f.json: missing field 'absent'");
  }
  EXPECT_THROW(required_field<int64_t>(j, "s", "f.json"), Error);
  EXPECT_EQ(optional_field<int64_t>(j, "absent", 7, "f.json"), 7);
}

TEST(JsonFields, ReadJsonFileNamesThePathOnSyntaxError) {
  test::TempDir dir;
  test::write_bytes(dir.file("bad.json"), "{\"a\": ");
  try {
    read_json_file(dir.file("bad.json"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: invalid JSON"), std::string::npos);
  }
  EXPECT_THROW(read_json_file(dir.file("absent.json")), Error);
  // Well-formed JSON with a number beyond double's range: the parser's
  // out-of-range error, not only its syntax error, is one of ours (found by
  // fuzz_blueprint, docs/fuzzing.md).
  test::write_bytes(dir.file("huge.json"), "{\"a\": 1e999}");
  try {
    read_json_file(dir.file("huge.json"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("huge.json: invalid JSON"), std::string::npos) << e.what();
  }
}

TEST(JsonFields, AtomicWriteReplacesWholeFile) {
  test::TempDir dir;
  write_json_file(dir.file("a.json"), {{"x", 1}});
  write_json_file(dir.file("a.json"), {{"x", 2}});
  EXPECT_EQ(read_json_file(dir.file("a.json"))["x"], 2);
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().extension(), ".json") << e.path();  // no temporary file left
}

}  // namespace
}  // namespace hipp
