#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "core/error.h"
#include "core/json_fields.h"
#include "model/image.h"
#include "support.h"

namespace hipp {
namespace {

Image solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  Image image{w, h, {}};
  for (int i = 0; i < w * h; ++i) image.rgb.insert(image.rgb.end(), {r, g, b});
  return image;
}

TEST(Image, PngRoundTripIsLossless) {
  test::TempDir dir;
  Image image{5, 3, {}};
  for (int i = 0; i < 15; ++i) image.rgb.insert(image.rgb.end(), {uint8_t(i * 17), uint8_t(255 - i), uint8_t(i)});
  save_png(image, dir.file("a.png"));
  const auto back = load_image(dir.file("a.png"));
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.height, 3);
  EXPECT_EQ(back.rgb, image.rgb);
}

TEST(Image, BadFilesAreClearErrors) {
  test::TempDir dir;
  EXPECT_THROW(load_image(dir.file("missing.png")), Error);
  test::write_bytes(dir.file("bad.png"), "\x89PNG\r\n\x1a\nnot really");
  try {
    load_image(dir.file("bad.png"));
    FAIL() << "decoded garbage";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.png"), std::string::npos);
  }
  test::write_bytes(dir.file("empty.jpg"), "");
  EXPECT_THROW(load_image(dir.file("empty.jpg")), Error);
}

TEST(Image, PreprocessNormalisesWithClipStatistics) {
  const auto config = clip_preprocessor(8);
  const auto pixels = preprocess_image(solid(20, 10, 255, 0, 128), config);
  ASSERT_EQ(pixels.size(), 3u * 8 * 8);
  EXPECT_NEAR(pixels[0], (1.0 - 0.48145466) / 0.26862954, 1e-5);
  EXPECT_NEAR(pixels[64], (0.0 - 0.4578275) / 0.26130258, 1e-5);
  EXPECT_NEAR(pixels[128 + 63], (128 / 255.0 - 0.40821073) / 0.27577711, 1e-5);
}

TEST(Image, ResizeKeepsAspectThenCropsTheCentre) {
  // Left half black, right half white, 40x20: after resizing the short side
  // to 8 (16x8) and cropping the centre 8x8, the left half of the crop is dark.
  Image image{40, 20, {}};
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 40; ++x) {
      const uint8_t v = x < 20 ? 0 : 255;
      image.rgb.insert(image.rgb.end(), {v, v, v});
    }
  PreprocessorConfig config = clip_preprocessor(8);
  config.do_normalize = false;
  const auto pixels = preprocess_image(image, config);
  ASSERT_EQ(pixels.size(), 3u * 64);
  EXPECT_LT(pixels[4 * 8 + 1], 0.1f);
  EXPECT_GT(pixels[4 * 8 + 6], 0.9f);
}

// The antialiased bicubic resampling: a constant image stays constant, an
// unchanged size is a copy, and one shrunk row works out by hand: 4 pixels to
// 2 (scale 2, the filter widened to 4 taps at x = -0.25, 0.25, 0.75, 1.25,
// Keys' cubic with a = -0.5: 0.8671875, 0.8671875, 0.2265625, -0.0703125,
// normalised by their sum 1.890625).
TEST(Image, BicubicResamplingAsTorchvision) {
  for (auto [w, h, ow, oh] : {std::array<int, 4>{61, 45, 43, 32}, {20, 20, 32, 32}, {7, 30, 5, 3}}) {
    const auto out = resize_bicubic(solid(w, h, 200, 17, 90), ow, oh);
    ASSERT_EQ(out.width, ow);
    ASSERT_EQ(out.height, oh);
    for (size_t i = 0; i < out.rgb.size(); i += 3) {
      ASSERT_EQ(out.rgb[i], 200);
      ASSERT_EQ(out.rgb[i + 1], 17);
      ASSERT_EQ(out.rgb[i + 2], 90);
    }
  }
  Image row{4, 1, {}};
  for (uint8_t v : {0, 100, 200, 255}) row.rgb.insert(row.rgb.end(), {v, v, v});
  const auto same = resize_bicubic(row, 4, 1);
  EXPECT_EQ(same.rgb, row.rgb);
  const auto half = resize_bicubic(row, 2, 1);
  const double first = (100 * 0.8671875 + 200 * 0.2265625 - 255 * 0.0703125) / 1.890625;  // 60.35
  EXPECT_EQ(half.rgb[0], static_cast<uint8_t>(std::lround(first)));
  // The second output mirrors the first around the row's centre.
  const double second = (0 * -0.0703125 + 100 * 0.2265625 + 200 * 0.8671875 + 255 * 0.8671875) / 1.890625;
  EXPECT_EQ(half.rgb[3], static_cast<uint8_t>(std::lround(second)));
  // Upscaling overshoots at a hard edge and is clamped to 0..255.
  Image edge{2, 1, {0, 0, 0, 255, 255, 255}};
  const auto wide = resize_bicubic(edge, 8, 1);
  EXPECT_EQ(wide.rgb.front(), 0);
  EXPECT_EQ(wide.rgb.back(), 255);
  EXPECT_THROW(resize_bicubic(edge, 0, 1), Error);
}

TEST(Image, ReadsBothPreprocessorConfigForms) {
  test::TempDir dir;
  write_json_file(dir.file("old.json"), {{"size", 336}, {"crop_size", 336}});
  const auto old_form = read_preprocessor_config(dir.file("old.json"));
  EXPECT_EQ(old_form.shortest_edge, 336);
  EXPECT_EQ(old_form.crop_width, 336);
  auto c = clip_preprocessor(48);
  write_preprocessor_config(c, dir.file("new.json"));
  const auto back = read_preprocessor_config(dir.file("new.json"));
  EXPECT_EQ(back.shortest_edge, 48);
  EXPECT_EQ(back.crop_height, 48);
  EXPECT_DOUBLE_EQ(back.image_std[2], c.image_std[2]);
  write_json_file(dir.file("bad.json"), {{"image_mean", {0.5}}});
  EXPECT_THROW(read_preprocessor_config(dir.file("bad.json")), Error);
}

}  // namespace
}  // namespace hipp
