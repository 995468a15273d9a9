#include "model/image.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <tuple>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

#include "core/error.h"
#include "core/json_fields.h"

namespace hipp {

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name) {
  if (bytes.empty()) throw Error(name + ": empty image file");
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) throw Error(name + ": image file too large");
  int w = 0, h = 0, channels = 0;
  unsigned char* data = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &channels, 3);
  if (!data) throw Error(name + ": cannot decode image (" + stbi_failure_reason() + ")");
  Image image;
  image.width = w;
  image.height = h;
  image.rgb.assign(data, data + static_cast<size_t>(w) * h * 3);
  stbi_image_free(data);
  return image;
}

Image load_image(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open image");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_image(bytes, path);
}

void save_png(const Image& image, const std::string& path) {
  if (image.width <= 0 || image.height <= 0 || image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
    throw Error(path + ": image has inconsistent size");
  int length = 0;
  unsigned char* png = stbi_write_png_to_mem(image.rgb.data(), image.width * 3, image.width, image.height, 3, &length);
  if (!png) throw Error(path + ": PNG encoding failed");
  std::string bytes(reinterpret_cast<char*>(png), static_cast<size_t>(length));
  STBIW_FREE(png);
  write_file_atomically(path, bytes);
}

PreprocessorConfig clip_preprocessor(int64_t size) {
  PreprocessorConfig c;
  c.shortest_edge = c.crop_height = c.crop_width = size;
  return c;
}

PreprocessorConfig qwen_preprocessor(int64_t patch_size, int64_t merge_size, int64_t temporal_patch_size,
                                     int64_t min_pixels, int64_t max_pixels) {
  PreprocessorConfig c;
  c.kind = PreprocessorConfig::Kind::QwenVl;
  c.do_center_crop = false;
  c.patch_size = patch_size;
  c.merge_size = merge_size;
  c.temporal_patch_size = temporal_patch_size;
  c.min_pixels = min_pixels;
  c.max_pixels = max_pixels;
  return c;
}

namespace {

void read_qwen_fields(const nlohmann::json& j, PreprocessorConfig& c, const std::string& path) {
  c.kind = PreprocessorConfig::Kind::QwenVl;
  c.do_center_crop = false;
  if (j.contains("size") && j["size"].is_object()) {
    c.min_pixels = optional_field<int64_t>(j["size"], "shortest_edge", c.min_pixels, path + " size");
    c.max_pixels = optional_field<int64_t>(j["size"], "longest_edge", c.max_pixels, path + " size");
  }
  // The top-level fields win, as the processor's constructor lets them.
  c.min_pixels = optional_field<int64_t>(j, "min_pixels", c.min_pixels, path);
  c.max_pixels = optional_field<int64_t>(j, "max_pixels", c.max_pixels, path);
  c.patch_size = optional_field<int64_t>(j, "patch_size", c.patch_size, path);
  c.temporal_patch_size = optional_field<int64_t>(j, "temporal_patch_size", c.temporal_patch_size, path);
  c.merge_size = optional_field<int64_t>(j, "merge_size", c.merge_size, path);
  const auto bounded = [&](int64_t v, int64_t hi, const char* field) {
    if (v <= 0 || v > hi)
      throw Error(path + ": " + field + " must be in 1.." + std::to_string(hi) + " (got " + std::to_string(v) + ")");
  };
  bounded(c.patch_size, 1024, "patch_size");
  bounded(c.temporal_patch_size, 64, "temporal_patch_size");
  bounded(c.merge_size, 64, "merge_size");
  const int64_t factor = c.patch_size * c.merge_size;
  bounded(c.max_pixels, int64_t{1} << 32, "max_pixels");
  bounded(c.min_pixels, c.max_pixels, "min_pixels");
  if (c.max_pixels < factor * factor)
    throw Error(path + ": max_pixels " + std::to_string(c.max_pixels) + " is below one merged patch (" +
                std::to_string(factor * factor) + " pixels)");
}

}  // namespace

PreprocessorConfig read_preprocessor_config(const std::string& path) {
  const auto j = read_json_file(path);
  PreprocessorConfig c;
  const std::string type = optional_field<std::string>(j, "image_processor_type", "", path);
  const bool qwen = type.rfind("Qwen2VLImageProcessor", 0) == 0 || type.rfind("Qwen2_5_VLImageProcessor", 0) == 0;
  // Resampling is bicubic here (PIL's code 3), as every released LLaVA and
  // Qwen2.5-VL processor asks; another filter would change the pixels.
  if (j.contains("resample") && !j["resample"].is_null()) {
    const auto& r = j["resample"];
    const bool bicubic = (r.is_number_integer() && r.get<int64_t>() == 3) ||
                         (r.is_string() && (r.get<std::string>() == "bicubic" || r.get<std::string>() == "BICUBIC"));
    if (!bicubic) throw Error(path + ": resample " + r.dump() + " is not supported (bicubic, 3, only)");
  }
  c.do_resize = optional_field<bool>(j, "do_resize", c.do_resize, path);
  c.do_center_crop = optional_field<bool>(j, "do_center_crop", c.do_center_crop, path);
  c.do_rescale = optional_field<bool>(j, "do_rescale", c.do_rescale, path);
  c.do_normalize = optional_field<bool>(j, "do_normalize", c.do_normalize, path);
  c.rescale_factor = optional_field<double>(j, "rescale_factor", c.rescale_factor, path);
  if (qwen) {
    read_qwen_fields(j, c, path);
  } else if (j.contains("size")) {
    const auto& size = j["size"];
    if (size.is_number_integer()) {
      c.shortest_edge = size.get<int64_t>();
    } else {
      c.shortest_edge = required_field<int64_t>(size, "shortest_edge", path + " size");
    }
  }
  if (j.contains("crop_size")) {
    const auto& crop = j["crop_size"];
    if (crop.is_number_integer()) {
      c.crop_height = c.crop_width = crop.get<int64_t>();
    } else {
      c.crop_height = required_field<int64_t>(crop, "height", path + " crop_size");
      c.crop_width = required_field<int64_t>(crop, "width", path + " crop_size");
    }
  }
  auto mean = optional_field<std::vector<double>>(j, "image_mean", {}, path);
  auto stdv = optional_field<std::vector<double>>(j, "image_std", {}, path);
  if (!mean.empty()) {
    if (mean.size() != 3) throw Error(path + ": image_mean must have 3 values");
    std::copy(mean.begin(), mean.end(), c.image_mean.begin());
  }
  if (!stdv.empty()) {
    if (stdv.size() != 3) throw Error(path + ": image_std must have 3 values");
    for (double s : stdv)
      if (s <= 0) throw Error(path + ": image_std values must be positive");
    std::copy(stdv.begin(), stdv.end(), c.image_std.begin());
  }
  if (c.shortest_edge <= 0 || c.crop_height <= 0 || c.crop_width <= 0)
    throw Error(path + ": image sizes must be positive");
  return c;
}

void write_preprocessor_config(const PreprocessorConfig& c, const std::string& path) {
  nlohmann::json j = {
      {"do_resize", c.do_resize},       {"resample", 3},
      {"do_rescale", c.do_rescale},     {"rescale_factor", c.rescale_factor},
      {"do_normalize", c.do_normalize}, {"do_convert_rgb", true},
      {"image_mean", c.image_mean},     {"image_std", c.image_std},
  };
  if (c.kind == PreprocessorConfig::Kind::QwenVl) {
    j["image_processor_type"] = "Qwen2VLImageProcessor";
    j["processor_class"] = "Qwen2_5_VLProcessor";
    j["min_pixels"] = c.min_pixels;
    j["max_pixels"] = c.max_pixels;
    j["size"] = {{"shortest_edge", c.min_pixels}, {"longest_edge", c.max_pixels}};
    j["patch_size"] = c.patch_size;
    j["temporal_patch_size"] = c.temporal_patch_size;
    j["merge_size"] = c.merge_size;
  } else {
    j["image_processor_type"] = "CLIPImageProcessor";
    j["processor_class"] = "LlavaProcessor";
    j["size"] = {{"shortest_edge", c.shortest_edge}};
    j["do_center_crop"] = c.do_center_crop;
    j["crop_size"] = {{"height", c.crop_height}, {"width", c.crop_width}};
  }
  write_json_file(path, j);
}

namespace {

// Keys' cubic with a = -0.5, the antialiasing filter of Pillow and of
// PyTorch's interpolate(mode="bicubic", antialias=True).
float cubic_filter(float x) {
  x = std::abs(x);
  const float a = -0.5f;
  if (x < 1.0f) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2.0f) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0f;
}

// The taps of one output position along an axis: the first input index and
// the normalised weights. Shrinking widens the filter by the scale (the
// antialiasing); taps outside the image are dropped and the rest
// renormalised. Arithmetic in float, in the order PyTorch's CPU kernel uses,
// so that the rounding to 8 bits afterwards agrees.
struct Taps {
  int64_t first = 0;
  std::vector<float> weights;
};

std::vector<Taps> resample_taps(int64_t in, int64_t out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const float support = scale >= 1.0f ? static_cast<float>(2.0 * scale) : 2.0f;
  const float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
  std::vector<Taps> taps(static_cast<size_t>(out));
  for (int64_t i = 0; i < out; ++i) {
    const float center = static_cast<float>(scale * (static_cast<double>(i) + 0.5));
    const int64_t first = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t count = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in) - first;
    auto& t = taps[static_cast<size_t>(i)];
    t.first = first;
    float total = 0;
    for (int64_t j = 0; j < count; ++j) {
      const float w = cubic_filter(static_cast<float>((static_cast<float>(j + first) - center + 0.5) * invscale));
      t.weights.push_back(w);
      total += w;
    }
    if (total != 0)
      for (float& w : t.weights) w /= total;
  }
  return taps;
}

}  // namespace

Image resize_bicubic(const Image& image, int out_width, int out_height) {
  if (out_width <= 0 || out_height <= 0) throw Error("cannot resize an image to an empty size");
  if (out_width == image.width && out_height == image.height) return image;
  const int64_t w = image.width, h = image.height;
  // Width first (when it changes), then height, in float; then clamped and
  // rounded half to even to 8 bits, as torchvision's resize of a uint8 image.
  std::vector<float> plane(image.rgb.begin(), image.rgb.end());
  int64_t cur_w = w;
  if (out_width != w) {
    const auto taps = resample_taps(w, out_width);
    std::vector<float> next(static_cast<size_t>(h * out_width * 3));
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < out_width; ++x)
        for (int64_t ch = 0; ch < 3; ++ch) {
          const auto& t = taps[static_cast<size_t>(x)];
          float sum = 0;
          for (size_t j = 0; j < t.weights.size(); ++j) {
            const float v = plane[static_cast<size_t>((y * cur_w + t.first + static_cast<int64_t>(j)) * 3 + ch)];
            sum = j == 0 ? v * t.weights[j] : sum + v * t.weights[j];
          }
          next[static_cast<size_t>((y * out_width + x) * 3 + ch)] = sum;
        }
    plane = std::move(next);
    cur_w = out_width;
  }
  if (out_height != h) {
    const auto taps = resample_taps(h, out_height);
    std::vector<float> next(static_cast<size_t>(out_height * cur_w * 3));
    for (int64_t y = 0; y < out_height; ++y) {
      const auto& t = taps[static_cast<size_t>(y)];
      for (int64_t x = 0; x < cur_w; ++x)
        for (int64_t ch = 0; ch < 3; ++ch) {
          float sum = 0;
          for (size_t j = 0; j < t.weights.size(); ++j) {
            const float v = plane[static_cast<size_t>(((t.first + static_cast<int64_t>(j)) * cur_w + x) * 3 + ch)];
            sum = j == 0 ? v * t.weights[j] : sum + v * t.weights[j];
          }
          next[static_cast<size_t>((y * cur_w + x) * 3 + ch)] = sum;
        }
    }
    plane = std::move(next);
  }
  Image out;
  out.width = out_width;
  out.height = out_height;
  out.rgb.resize(plane.size());
  for (size_t i = 0; i < plane.size(); ++i)
    out.rgb[i] = static_cast<uint8_t>(std::nearbyint(std::clamp(plane[i], 0.0f, 255.0f)));
  return out;
}

namespace {

// CLIP's resize: the shortest side to shortest_edge, the long side truncated
// as CLIPImageProcessor does. Returns (height, width).
std::pair<int64_t, int64_t> clip_resized_size(int64_t height, int64_t width, const PreprocessorConfig& c) {
  const int64_t new_long = c.shortest_edge * std::max(width, height) / std::min(width, height);
  return width <= height ? std::pair<int64_t, int64_t>{new_long, c.shortest_edge}
                         : std::pair<int64_t, int64_t>{c.shortest_edge, new_long};
}

}  // namespace

std::vector<float> preprocess_image(const Image& input, const PreprocessorConfig& c) {
  if (input.width <= 0 || input.height <= 0) throw Error("cannot preprocess an empty image");
  Image image = input;
  if (c.do_resize) {
    const auto [out_h, out_w] = clip_resized_size(image.height, image.width, c);
    image = resize_bicubic(image, static_cast<int>(out_w), static_cast<int>(out_h));
  }
  int64_t out_h = image.height, out_w = image.width, top = 0, left = 0;
  if (c.do_center_crop) {
    out_h = c.crop_height;
    out_w = c.crop_width;
    top = (image.height - out_h) / 2;  // negative when the image is smaller: padded with zeros
    left = (image.width - out_w) / 2;
  }
  std::vector<float> pixels(static_cast<size_t>(3 * out_h * out_w), 0.0f);
  for (int64_t y = 0; y < out_h; ++y) {
    const int64_t sy = y + top;
    for (int64_t x = 0; x < out_w; ++x) {
      const int64_t sx = x + left;
      const bool inside = sy >= 0 && sy < image.height && sx >= 0 && sx < image.width;
      for (int ch = 0; ch < 3; ++ch) {
        double v = inside ? image.rgb[static_cast<size_t>((sy * image.width + sx) * 3 + ch)] : 0.0;
        if (c.do_rescale) v *= c.rescale_factor;
        if (c.do_normalize) v = (v - c.image_mean[ch]) / c.image_std[ch];
        pixels[static_cast<size_t>((ch * out_h + y) * out_w + x)] = static_cast<float>(v);
      }
    }
  }
  return pixels;
}

std::pair<int64_t, int64_t> smart_resize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels,
                                         int64_t max_pixels) {
  if (height <= 0 || width <= 0) throw Error("cannot resize an empty image");
  const double h = static_cast<double>(height), w = static_cast<double>(width);
  if (std::max(h, w) / std::min(h, w) > 200)
    throw Error("image of " + std::to_string(width) + "x" + std::to_string(height) +
                " has an aspect ratio above 200, which the Qwen2-VL processor refuses");
  const double f = static_cast<double>(factor);
  auto h_bar = static_cast<int64_t>(std::nearbyint(h / f)) * factor;
  auto w_bar = static_cast<int64_t>(std::nearbyint(w / f)) * factor;
  if (h_bar * w_bar > max_pixels) {
    const double beta = std::sqrt(h * w / static_cast<double>(max_pixels));
    h_bar = std::max(factor, static_cast<int64_t>(std::floor(h / beta / f)) * factor);
    w_bar = std::max(factor, static_cast<int64_t>(std::floor(w / beta / f)) * factor);
  } else if (h_bar * w_bar < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / (h * w));
    h_bar = static_cast<int64_t>(std::ceil(h * beta / f)) * factor;
    w_bar = static_cast<int64_t>(std::ceil(w * beta / f)) * factor;
  }
  return {h_bar, w_bar};
}

PreparedImage prepare_image(const Image& input, const PreprocessorConfig& c) {
  PreparedImage out;
  if (c.kind == PreprocessorConfig::Kind::Clip) {
    out.values = preprocess_image(input, c);
    int64_t h = c.crop_height, w = c.crop_width;
    if (!c.do_center_crop) {
      h = input.height, w = input.width;
      if (c.do_resize) std::tie(h, w) = clip_resized_size(h, w, c);
    }
    out.shape = {3, h, w};
    return out;
  }
  if (input.width <= 0 || input.height <= 0) throw Error("cannot preprocess an empty image");
  const int64_t ps = c.patch_size, m = c.merge_size, tps = c.temporal_patch_size;
  Image image = input;
  if (c.do_resize) {
    const auto [h, w] = smart_resize(input.height, input.width, ps * m, c.min_pixels, c.max_pixels);
    image = resize_bicubic(input, static_cast<int>(w), static_cast<int>(h));
  } else if (image.height % (ps * m) != 0 || image.width % (ps * m) != 0) {
    throw Error("without resizing, the image's sides must be multiples of " + std::to_string(ps * m));
  }
  const int64_t height = image.height, width = image.width;
  const int64_t gh = height / ps, gw = width / ps;
  out.grid_t = 1;
  out.grid_h = gh;
  out.grid_w = gw;
  const int64_t patch_dim = 3 * tps * ps * ps;
  out.shape = {gh * gw, patch_dim};
  out.values.resize(static_cast<size_t>(gh * gw * patch_dim));
  auto value = [&](int64_t ch, int64_t y, int64_t x) {
    double v = image.rgb[static_cast<size_t>((y * width + x) * 3 + ch)];
    if (c.do_rescale) v *= c.rescale_factor;
    if (c.do_normalize) v = (v - c.image_mean[static_cast<size_t>(ch)]) / c.image_std[static_cast<size_t>(ch)];
    return static_cast<float>(v);
  };
  // Rows: merged block (row, column), then the patch within the block;
  // columns: channel, temporal copy, pixel row, pixel column.
  size_t at = 0;
  for (int64_t hb = 0; hb < gh / m; ++hb)
    for (int64_t wb = 0; wb < gw / m; ++wb)
      for (int64_t mh = 0; mh < m; ++mh)
        for (int64_t mw = 0; mw < m; ++mw) {
          const int64_t y0 = (hb * m + mh) * ps, x0 = (wb * m + mw) * ps;
          for (int64_t ch = 0; ch < 3; ++ch)
            for (int64_t t = 0; t < tps; ++t)
              for (int64_t py = 0; py < ps; ++py)
                for (int64_t px = 0; px < ps; ++px) out.values[at++] = value(ch, y0 + py, x0 + px);
        }
  return out;
}

}  // namespace hipp
