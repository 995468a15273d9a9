#pragma once
// Images and CLIP preprocessing as preprocessor_config.json describes it
// (resize shortest side, center crop, rescale, normalise). Torch-free; stb
// reads PNG and JPEG.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace hipp {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes a pixel
};

// Reads a PNG or JPEG file as RGB; a missing or undecodable file is a hipp::Error naming it.
Image load_image(const std::string& path);
// Decodes an in-memory PNG or JPEG; `name` labels errors.
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name);
// Writes a PNG (temporary file renamed into place).
void save_png(const Image& image, const std::string& path);

struct PreprocessorConfig {
  bool do_resize = true;
  int64_t shortest_edge = 224;
  bool do_center_crop = true;
  int64_t crop_height = 224;
  int64_t crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean = {0.48145466, 0.4578275, 0.40821073};  // CLIP's
  std::array<double, 3> image_std = {0.26862954, 0.26130258, 0.27577711};
};

// Reads preprocessor_config.json (CLIPImageProcessor; both the older integer
// and the newer {"shortest_edge"} / {"height","width"} forms).
PreprocessorConfig read_preprocessor_config(const std::string& path);
void write_preprocessor_config(const PreprocessorConfig& config, const std::string& path);
// CLIP defaults for a square model input of `size` pixels.
PreprocessorConfig clip_preprocessor(int64_t size);

// Bicubic resampling as transformers' CLIPImageProcessor (torchvision backend)
// does it: antialiased when shrinking (Keys' cubic, a = -0.5, widened by the
// scale), width then height in float, rounded half to even to 8 bits.
Image resize_bicubic(const Image& image, int width, int height);

// Resize (bicubic, shortest side), center crop, rescale, normalise: returns
// channel-major floats [3, crop_height, crop_width].
std::vector<float> preprocess_image(const Image& image, const PreprocessorConfig& config);

}  // namespace hipp
