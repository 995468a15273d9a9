#include "model/image.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>

#include "core/error.h"
#include "core/json_fields.h"

namespace hipp {

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name) {
  if (bytes.empty()) throw Error(name + ": empty image file");
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) throw Error(name + ": image file too large");
  int w = 0, h = 0, channels = 0;
  unsigned char* data = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w,
                                              &h, &channels, 3);
  if (!data) throw Error(name + ": cannot decode image (" + stbi_failure_reason() + ")");
  Image image;
  image.width = w;
  image.height = h;
  image.rgb.assign(data, data + static_cast<size_t>(w) * h * 3);
  stbi_image_free(data);
  return image;
}

Image load_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open image");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_image(bytes, path);
}

void save_png(const Image& image, const std::string& path) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
    throw Error(path + ": image has inconsistent size");
  int length = 0;
  unsigned char* png =
      stbi_write_png_to_mem(image.rgb.data(), image.width * 3, image.width, image.height, 3, &length);
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

PreprocessorConfig read_preprocessor_config(const std::string& path) {
  const auto j = read_json_file(path);
  PreprocessorConfig c;
  c.do_resize = optional_field<bool>(j, "do_resize", c.do_resize, path);
  c.do_center_crop = optional_field<bool>(j, "do_center_crop", c.do_center_crop, path);
  c.do_rescale = optional_field<bool>(j, "do_rescale", c.do_rescale, path);
  c.do_normalize = optional_field<bool>(j, "do_normalize", c.do_normalize, path);
  c.rescale_factor = optional_field<double>(j, "rescale_factor", c.rescale_factor, path);
  if (j.contains("size")) {
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
      {"image_processor_type", "CLIPImageProcessor"},
      {"processor_class", "LlavaProcessor"},
      {"do_resize", c.do_resize},
      {"size", {{"shortest_edge", c.shortest_edge}}},
      {"resample", 3},
      {"do_center_crop", c.do_center_crop},
      {"crop_size", {{"height", c.crop_height}, {"width", c.crop_width}}},
      {"do_rescale", c.do_rescale},
      {"rescale_factor", c.rescale_factor},
      {"do_normalize", c.do_normalize},
      {"do_convert_rgb", true},
      {"image_mean", c.image_mean},
      {"image_std", c.image_std},
  };
  write_json_file(path, j);
}

std::vector<float> preprocess_image(const Image& input, const PreprocessorConfig& c) {
  if (input.width <= 0 || input.height <= 0) throw Error("cannot preprocess an empty image");
  Image image = input;
  if (c.do_resize) {
    // Shortest side to shortest_edge, the long side truncated as CLIPImageProcessor does.
    const int64_t short_side = std::min(image.width, image.height);
    const int64_t long_side = std::max(image.width, image.height);
    const int64_t new_long = c.shortest_edge * long_side / short_side;
    const int out_w = static_cast<int>(image.width <= image.height ? c.shortest_edge : new_long);
    const int out_h = static_cast<int>(image.width <= image.height ? new_long : c.shortest_edge);
    if (out_w != image.width || out_h != image.height) {
      Image resized;
      resized.width = out_w;
      resized.height = out_h;
      resized.rgb.resize(static_cast<size_t>(out_w) * out_h * 3);
      stbir_resize_uint8_generic(image.rgb.data(), image.width, image.height, image.width * 3,
                                 resized.rgb.data(), out_w, out_h, out_w * 3, 3,
                                 STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                                 STBIR_FILTER_CATMULLROM, STBIR_COLORSPACE_LINEAR, nullptr);
      image = std::move(resized);
    }
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

}  // namespace hipp
