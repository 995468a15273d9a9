#!/usr/bin/env python3
"""Golden fixtures from transformers for tests/test_transformers_fixtures.cpp.

Runs where Python torch, transformers 5.x, safetensors and pillow are
installed (the lent GPU machine has them; the CPU is enough):

    python3 scripts/device/make-transformers-fixtures.py OUT_DIR

and writes OUT_DIR/<case>/ for each case below: a micro LLaVA checkpoint as
transformers saves it (model/ with config.json, model.safetensors,
preprocessor_config.json), a non-square PNG, and golden.safetensors with
input_ids, pixel_values (CLIPImageProcessor's, torchvision backend) and the
float32 logits of LlavaForConditionalGeneration on them. Copy OUT_DIR to
tests/fixtures/transformers/ and commit it (a few hundred KB).

Cases: GQA with rope_theta 500000 in rope_parameters (transformers 5 save
layout); llama3 RoPE scaling; the 4.x hub key layout with linear
rope_scaling; a projector without bias and tied embeddings.

Qwen2.5-VL (qwen-*): a micro Qwen2_5_VLForConditionalGeneration (2-block
tower with 8-px windows and one full-attention block, Qwen2 decoder with
GQA and tied embeddings) on a 61 x 45 image that the Qwen2-VL processor
resizes to 60 x 44 (uneven windows at the edges); golden.safetensors adds
image_grid_thw. And tokenizer-ids.json: the tokenizers library's ids for
tests/fixtures/qwen-tokenizer/tokenizer.json (the engine's own byte-level
BPE of the micro preset) on a list of texts.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import transformers
from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                          LlavaForConditionalGeneration)

VOCAB = 128
IMAGE_TOKEN = 100
IMAGE_SIZE = 32
PATCH = 8


def text_config(rope, heads=4, kv_heads=2, tie=False):
    kwargs = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=16,
                  max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=tie,
                  bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return LlamaConfig(rope_parameters=rope, **kwargs)


def vision_config():
    return CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=PATCH,
                            projection_dim=32, hidden_act="quick_gelu", layer_norm_eps=1e-5)


def llava_config(text, projector_bias=True):
    config = LlavaConfig(text_config=text, vision_config=vision_config(), image_token_id=IMAGE_TOKEN,
                         vision_feature_layer=-2, vision_feature_select_strategy="default",
                         projector_hidden_act="gelu", multimodal_projector_bias=projector_bias)
    return config


def test_image(seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(45, 61, 3), dtype=np.uint8)  # 61 wide, 45 high
    pixels[10:30, 15:40] = [220, 40, 60]  # a block with hard edges
    return Image.fromarray(pixels, "RGB")


def to_hub_layout(path):
    """Rewrites a saved model.safetensors in the 4.x hub key layout."""
    tensors = load_file(path)
    out = {}
    for name, t in tensors.items():
        if name.startswith("model.language_model."):
            name = "language_model.model." + name[len("model.language_model."):]
        elif name == "lm_head.weight":
            name = "language_model.lm_head.weight"
        elif name.startswith("model."):
            name = name[len("model."):]
        if name.startswith("vision_tower.") and not name.startswith("vision_tower.vision_model."):
            name = "vision_tower.vision_model." + name[len("vision_tower."):]
        out[name] = t.contiguous()
    save_file(out, path, metadata={"format": "pt"})


def make_case(out_dir, name, config, seed, hub_layout=False, config_edit=None):
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval().float()
    case = os.path.join(out_dir, name)
    model_dir = os.path.join(case, "model")
    shutil.rmtree(case, ignore_errors=True)
    os.makedirs(model_dir)
    model.save_pretrained(model_dir, safe_serialization=True)
    processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                   crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor.save_pretrained(model_dir)
    if hub_layout:
        to_hub_layout(os.path.join(model_dir, "model.safetensors"))
    if config_edit:
        path = os.path.join(model_dir, "config.json")
        with open(path) as f:
            saved = json.load(f)
        config_edit(saved)
        with open(path, "w") as f:
            json.dump(saved, f, indent=2)
    image = test_image(seed)
    image.save(os.path.join(case, "image.png"))
    pixel_values = processor(images=image, return_tensors="pt")["pixel_values"].float()
    features = (IMAGE_SIZE // PATCH) ** 2
    ids = [1, 5, 17, 9] + [IMAGE_TOKEN] * features + [23, 42, 7, 64, 11, 3]
    input_ids = torch.tensor([ids], dtype=torch.int64)
    with torch.no_grad():
        logits = model(input_ids=input_ids, pixel_values=pixel_values).logits.float()
    save_file({"input_ids": input_ids, "pixel_values": pixel_values.contiguous(), "logits": logits.contiguous()},
              os.path.join(case, "golden.safetensors"))
    keys = sorted(load_file(os.path.join(model_dir, "model.safetensors")).keys())
    print(f"{name}: {len(keys)} tensors, first {keys[0]}, logits {tuple(logits.shape)}, "
          f"processor {type(processor).__name__} backend {getattr(processor, 'backend', '?')}")


QWEN_IMAGE, QWEN_START, QWEN_END = 120, 121, 122


def make_qwen_case(out_dir, name, seed):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    try:
        from transformers import Qwen2VLImageProcessor as Processor
    except ImportError:
        from transformers import Qwen2VLImageProcessorFast as Processor
    text = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                rms_norm_eps=1e-6, tie_word_embeddings=True, hidden_act="silu")
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=2,
                  temporal_patch_size=2, spatial_merge_size=2, window_size=8, out_hidden_size=64,
                  fullatt_block_indexes=[1], hidden_act="silu")
    ids = dict(image_token_id=QWEN_IMAGE, vision_start_token_id=QWEN_START, vision_end_token_id=QWEN_END)
    try:
        config = Qwen2_5_VLConfig(text_config=dict(text, rope_parameters={
            "rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}),
            vision_config=vision, tie_word_embeddings=True, **ids)
    except TypeError:
        config = Qwen2_5_VLConfig(text_config=dict(text, rope_theta=1000000.0, rope_scaling={
            "type": "mrope", "mrope_section": [2, 3, 3]}), vision_config=vision, tie_word_embeddings=True, **ids)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval().float()
    case = os.path.join(out_dir, name)
    model_dir = os.path.join(case, "model")
    shutil.rmtree(case, ignore_errors=True)
    os.makedirs(model_dir)
    model.save_pretrained(model_dir, safe_serialization=True)
    processor = Processor(size={"shortest_edge": 16, "longest_edge": 4096}, min_pixels=16, max_pixels=4096,
                          patch_size=2, temporal_patch_size=2, merge_size=2)
    processor.save_pretrained(model_dir)
    image = test_image(seed)
    image.save(os.path.join(case, "image.png"))
    batch = processor(images=image, return_tensors="pt")
    pixel_values = batch["pixel_values"].float()
    grid = batch["image_grid_thw"].to(torch.int64)
    tokens = int(grid.prod().item()) // 4
    ids_list = [5, 17, 9, QWEN_START] + [QWEN_IMAGE] * tokens + [QWEN_END, 23, 42, 7, 64, 11, 3]
    input_ids = torch.tensor([ids_list], dtype=torch.int64)
    with torch.no_grad():
        logits = model(input_ids=input_ids, pixel_values=pixel_values, image_grid_thw=grid).logits.float()
    save_file({"input_ids": input_ids, "pixel_values": pixel_values.contiguous(), "image_grid_thw": grid,
               "logits": logits.contiguous()}, os.path.join(case, "golden.safetensors"))
    print(f"{name}: grid {grid.tolist()}, {tokens} image tokens, logits {tuple(logits.shape)}, "
          f"processor {type(processor).__name__}, text config {model.config.text_config.to_dict().get('rope_parameters')}")


TOKENIZER_TEXTS = [
    "Is there a dog in the image?",
    "Answer with the option's letter from the given choices directly.",
    "We'll see  how it's done...\n\nOK?!  ",
    "(A) 12 apples, 3.5 kg; B) 2024-11-30 -- done",
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is it?<|im_end|>\n",
    "na\u00efve caf\u00e9 \u00c9cole \u00bd \u00b2",
    "\u4e2d\u6587\u5b57 and \u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u2014 \u201cquoted\u201d \U0001f600!",
    "\t tabs\tand\r\nwindows\r\n lines",
]


def make_tokenizer_ids(out_dir):
    from tokenizers import Tokenizer
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "tests", "fixtures", "qwen-tokenizer", "tokenizer.json")
    tokenizer = Tokenizer.from_file(path)
    cases = [{"text": t, "ids": tokenizer.encode(t, add_special_tokens=False).ids} for t in TOKENIZER_TEXTS]
    with open(os.path.join(out_dir, "tokenizer-ids.json"), "w") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
    print(f"tokenizer-ids.json: {len(cases)} texts")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-transformers-fixtures.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    print("transformers", transformers.__version__, "torch", torch.__version__)
    make_case(out_dir, "v5-gqa-theta500k",
              llava_config(text_config({"rope_type": "default", "rope_theta": 500000.0})), seed=1)
    make_case(out_dir, "v5-llama3",
              llava_config(text_config({"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                        "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                        "original_max_position_embeddings": 8192})), seed=2)

    def hub_config(saved):
        # The 4.x form: rope_theta and rope_scaling instead of rope_parameters.
        text = saved["text_config"]
        rope = text.pop("rope_parameters")
        text["rope_theta"] = rope["rope_theta"]
        text["rope_scaling"] = {"type": "linear", "factor": rope["factor"]}
        saved["image_token_index"] = saved.pop("image_token_id", IMAGE_TOKEN)

    make_case(out_dir, "v4-hub-linear",
              llava_config(text_config({"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0},
                                       heads=4, kv_heads=4)),
              seed=3, hub_layout=True, config_edit=hub_config)
    make_case(out_dir, "v5-nobias-tied",
              llava_config(text_config({"rope_type": "default", "rope_theta": 10000.0}, tie=True),
                           projector_bias=False), seed=4)
    make_qwen_case(out_dir, "qwen-micro-windows", seed=5)
    make_tokenizer_ids(out_dir)


if __name__ == "__main__":
    main()
