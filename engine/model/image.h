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
  // CLIPImageProcessor (LLaVA): a fixed square crop. Qwen2VLImageProcessor
  // (Qwen2.5-VL): dynamic resolution, the image resized to multiples of
  // patch_size * merge_size within [min_pixels, max_pixels] and cut into
  // patches.
  enum class Kind { Clip, QwenVl };
  Kind kind = Kind::Clip;
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
  // Qwen2VLImageProcessor only.
  int64_t min_pixels = 56 * 56;
  int64_t max_pixels = 28 * 28 * 1280;
  int64_t patch_size = 14;
  int64_t temporal_patch_size = 2;
  int64_t merge_size = 2;
};

// Reads preprocessor_config.json: CLIPImageProcessor (both the older integer
// and the newer {"shortest_edge"} / {"height","width"} forms) or, when
// image_processor_type names Qwen2-VL's, its min_pixels / max_pixels (or
// size {"shortest_edge", "longest_edge"}), patch_size, temporal_patch_size
// and merge_size.
PreprocessorConfig read_preprocessor_config(const std::string& path);
void write_preprocessor_config(const PreprocessorConfig& config, const std::string& path);
// CLIP defaults for a square model input of `size` pixels.
PreprocessorConfig clip_preprocessor(int64_t size);
// Qwen2-VL's processor with these patch sizes and pixel bounds.
PreprocessorConfig qwen_preprocessor(int64_t patch_size, int64_t merge_size, int64_t temporal_patch_size,
                                     int64_t min_pixels, int64_t max_pixels);

// Bicubic resampling as transformers' CLIPImageProcessor (torchvision backend)
// does it: antialiased when shrinking (Keys' cubic, a = -0.5, widened by the
// scale), width then height in float, rounded half to even to 8 bits.
Image resize_bicubic(const Image& image, int width, int height);

// Resize (bicubic, shortest side), center crop, rescale, normalise: returns
// channel-major floats [3, crop_height, crop_width].
std::vector<float> preprocess_image(const Image& image, const PreprocessorConfig& config);

// Qwen2-VL's smart resize: the (height, width) nearest the image's, each a
// multiple of `factor`, with height * width within [min_pixels, max_pixels]
// (rounding half to even, as Python's round). Throws for an aspect ratio
// above 200.
std::pair<int64_t, int64_t> smart_resize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels,
                                         int64_t max_pixels);

// An image ready for the vision tower. CLIP: `values` are [3, H, W] (shape
// {3, H, W}, grid 1 x 1 x 1). Qwen2-VL: [patches, C * T * P * P] rows in the
// processor's order (each 2 x 2 block that the merger joins contiguous), the
// still image repeated over the temporal patch; grid in patches.
struct PreparedImage {
  std::vector<float> values;
  std::vector<int64_t> shape;
  int64_t grid_t = 1, grid_h = 1, grid_w = 1;
};
PreparedImage prepare_image(const Image& image, const PreprocessorConfig& config);

}  // namespace hipp
