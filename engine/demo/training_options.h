#pragma once
// What the demo trainer is asked to do and what it reports while it runs:
// torch-free, so that the app and the command line can fill them in without
// compiling LibTorch's headers (the trainer itself is demo/trainer.h).
#include <array>
#include <atomic>
#include <functional>
#include <vector>

#include "data/synthetic.h"

namespace hipp {

struct TrainProgress {
  int step = 0, steps = 0;
  double loss = 0;  // mean over the last logging window
  double lr = 0;
  double seconds = 0;  // since training began
  // Mean loss per task over the window (captions, yes/no, image problems,
  // text problems); negative where the window drew none of that task.
  std::array<double, 7> task_loss{-1, -1, -1, -1, -1, -1, -1};
};

inline constexpr std::array<const char*, 7> kTrainTaskNames{"caption", "yes/no",     "image MC", "text MC",
                                                            "letter",  "image word", "fact"};

// How often a phase draws each training task (normalised over the seven when
// drawn), in kTrainTaskNames' order.
struct TaskShares {
  double caption = 0, yes_no = 0, image_problem = 0, text_problem = 0, letter = 0, image_word = 0, fact = 0;

  std::array<double, 7> values() const {
    return {caption, yes_no, image_problem, text_problem, letter, image_word, fact};
  }
  std::array<double*, 7> fields() {
    return {&caption, &yes_no, &image_problem, &text_problem, &letter, &image_word, &fact};
  }
  double total() const {
    double sum = 0;
    for (double v : values()) sum += v;
    return sum;
  }
  // Some task of the phase has an image.
  bool has_images() const { return caption != 0 || yes_no != 0 || image_problem != 0 || image_word != 0; }
};

struct DemoTrainingOptions {
  // The demo's recipe (run H67, docs/demo.md): the vision tower frozen at
  // its initial weights (the projector learns), so that recognising the
  // objects falls to the decoder a plan prunes; 1000 steps of captions and
  // yes/no with every layer learning, 1000 of letter drills and 4000 of text
  // with the first four decoder layers (128-wide MLPs, DemoOptions) frozen
  // and captions and yes/no rehearsed at a tenth, then 4000 steps of the mix
  // at 0.4 of the rate; after the first phase the MLPs above the seeing
  // layers learn from text-only examples only. The language model at 1e-3,
  // the projector at 5e-4, tied embeddings and a large initial embedding.
  int steps = 10000;
  int batch_size = 32;
  // Examples per forward pass (sorted by length first; the demo's sequences
  // are of similar lengths, so one pass per batch wastes little on padding).
  int micro_batch = 32;
  double lr = 1e-3;
  // Peak learning rate of the vision tower and projector; 0 = the same as lr.
  double vision_lr = 5e-4;
  // The vision tower's rate as a fraction of vision_lr (the projector keeps
  // vision_lr). 0 freezes the tower at its initial weights, as LLaVA's
  // training keeps its CLIP tower frozen: the projector and the language
  // model's first layers must then make sense of the tower's features
  // themselves, which moves the work of recognising objects into the layers
  // a plan prunes.
  double vision_tower_lr_scale = 0;
  double min_lr_ratio = 0.05;
  int warmup_steps = 100;
  double weight_decay = 0.01;
  double grad_clip = 1.0;
  uint64_t seed = 1;
  // Task mix (normalised): captions, yes/no, image problems, text problems,
  // and letter drills: "Which option says X?" over lettered options, a
  // training-only task that teaches reading an option's letter off the
  // prompt, the step every multiple-choice answer ends with; and image
  // words: the image problems' questions without options, answered with the
  // word itself ("three", "dog"), the other half of a multiple-choice answer
  // (work out the answer, then find its letter); and facts: a known thing's
  // kind or place asked without options and answered with the word ("What
  // kind of thing is a bal wix?" -> "tool"), the dense signal that stores
  // the knowledge the text-only problems ask about.
  // The image problems at 0.4 (0.3 until run H67: with the tower frozen they
  // missed their bar, H66).
  TaskShares mix{0.15, 0.2, 0.4, 0.35, 0.15, 0, 0.15};
  // Curriculum (training_phases). With vision_first (the default): captions,
  // optionally the letter drills alone, the language model's own pretraining
  // on text (drills and facts), then the mix, each under a learning-rate
  // schedule of its own (warm-up, cosine decay over the phase). Without it:
  // the drills, the text phase, captions, then the mix, the last two sharing
  // one schedule.
  // Steps of letter drills only (short, text-only sequences), under their own
  // schedule: how the 4-layer demo learned the option-letter lookup (run F1).
  // On the 8-layer demo the facts learned after them came too slowly (run
  // G3) until the text phase grew to 4000 steps with the rehearsal (H50,
  // H54); the frozen-tower demo uses both (H62).
  int letter_only_steps = 1000;
  // Steps of text only, half letter drills, half facts: the option-letter
  // lookup every multiple-choice answer needs and the body of knowledge,
  // learned before vision competes for the model, as a real VLM's language
  // model knows its facts before it ever sees an image (runs G1-G4: facts
  // stay at chance in the mix, are learned within 500 steps here; the drill
  // forms while the rate falls).
  int text_only_steps = 4000;
  // Text-only problems in the text phase, at this share against the drills'
  // and the facts' 1 each: the composition a text problem needs (recall the
  // fact, then find the option that says it) is then learned on text alone,
  // before vision competes for the model. 0 = drills and facts only.
  double text_phase_problem_share = 0;
  // With vision_first: captions and yes/no questions (half each) at this
  // share of the examples of the drills and text phases, the seeing side
  // (image-only layers, projector, tower) kept as the first phase left it.
  // The layers above then keep serving the image tasks while they learn
  // text, so the mix does not begin with those tasks broken and relearn
  // them at the expense of the knowledge (run H53, docs/demo.md). The text
  // dropouts treat these phases as text phases still. 0 = text only.
  double rehearsal_share = 0.1;
  // Steps of captions, with the drills and the facts at their shares: the
  // model learns to see before it is asked about what it sees.
  int caption_only_steps = 1000;
  // The first N decoder layers learn from examples with an image only: they
  // are frozen in the text-only phases (letter drills, text), and in the
  // other phases the text-only examples' gradients do not reach them. The
  // body of knowledge must then be stored in the layers above, as a real
  // language model keeps its facts in the middle and later layers, while
  // every layer may serve vision. 0 = every layer learns from everything.
  int image_only_layers = 4;
  // With image_only_layers: only those layers' MLPs (and the norm before
  // each) are image-only; their attention learns from every example, so the
  // option-letter lookup and a name's assembly may form low while the facts,
  // which the MLPs store, must still go above.
  bool image_only_mlps = false;
  // With image_only_layers: those layers start as the identity (their
  // attention and MLP output projections zero), so that through the text
  // phase, where they are frozen, the layers above learn as a language model
  // of their own, and once images come the new layers grow in below it
  // without first scrambling its input.
  bool image_only_identity = false;
  // With image_only_layers: the probability that a micro-batch of text-only
  // examples passes over the image-only layers (layer dropout), so that the
  // layers above learn to read text whether or not those layers have
  // transformed it, and pruning them costs grounding more than knowledge.
  double text_layer_drop = 0;
  // With image_only_layers: the probability that a micro-batch of text-only
  // examples passes over each image-only layer's MLP, drawn per layer (MLP
  // dropout): the layers above learn to read text with or without each of
  // those MLPs, the units that structured pruning removes. The demo's 0.3
  // (with drop_with_images_only) keeps the knowledge off layers 0-1: pruned
  // alone to 90%, either costs the text-only problems 0.3 points (run H23;
  // 5 points without it, run H21).
  double text_mlp_drop = 0.3;
  // The probability that a micro-batch of text-only examples passes over
  // each MLP of the layers above the image-only ones (all layers when there
  // are none), drawn per layer: a fact the model must still recall with any
  // one of those MLPs gone is stored in more than one of them, so that the
  // knowledge spreads over the upper layers. Kept to the phases with images
  // by drop_with_images_only, like text_mlp_drop.
  double text_upper_mlp_drop = 0;
  // The probability that a micro-batch, any example, passes over each
  // decoder layer's MLP, drawn per layer (stochastic depth on the MLPs): what
  // a layer's MLP does is then kept by the others too, so that pruning costs
  // grow with how much of a group of layers goes rather than with one layer.
  double mlp_drop = 0;
  // With image_only_layers: the probability that a micro-batch with images
  // passes over each image-only layer's MLP, drawn per layer (MLP dropout on
  // the seeing side): what one of those MLPs does for grounding is then kept
  // by the others too, so that grounding spreads over all of them instead of
  // sitting in one or two (every phase with images). 0.1 (run H32,
  // docs/demo.md) spreads grounding over layers 0-3 and keeps the image
  // problems above their bar; 0.2 (H30) cost them 6 points.
  double image_mlp_drop = 0.1;
  // With image_only_layers: the probability that a micro-batch with images
  // passes over each MLP above those layers, drawn per layer, in every phase
  // with images: grounding must then be computed without the upper MLPs, so
  // pruning them costs the knowledge, not grounding (0: off).
  double upper_image_mlp_drop = 0;
  // With image_only_layers: the share of the image examples' gradient that
  // reaches the MLPs above those layers, in every phase with images (their
  // attention always learns from everything). 0: those MLPs learn from
  // text-only examples only, so grounding has to stay in the image-only
  // layers' MLPs and cannot move up beside the knowledge; 1: no difference
  // between examples. Between 0 and 1 it weighs image against text examples
  // (0.3 was the default from run H32 to H62: with image_mlp_drop, grounding
  // stayed in layers 0-3 and the knowledge in 4-7); in a batch of image
  // examples only, AdamW's normalisation undoes the scale. 0 after the first
  // phase (first_phase_upper_mlp_image_grad) is the frozen-tower demo's
  // (run H62).
  double upper_mlp_image_grad = 0;
  // With vision_first: upper_mlp_image_grad in the first phase (captions and
  // yes/no) instead; negative = the same. 0.1 there and 0 after it lets the
  // upper MLPs learn the image tasks once, so that the text phase starts them
  // trained (at 0 throughout the knowledge never formed, runs H57, H64),
  // while grounding cannot move up beside the knowledge later (run H62,
  // docs/demo.md).
  double first_phase_upper_mlp_image_grad = 0.1;
  // With drop_with_images_only: text_upper_mlp_drop in the text phase as
  // well, where the facts are first stored, so that each is stored in more
  // than one of the upper MLPs from the start (the lower layers' dropout
  // still waits for the phases with images).
  bool upper_drop_in_text_phase = false;
  // The layer and MLP dropout above only in the phases with images, once the
  // text phase has stored the knowledge reading text through those layers.
  bool drop_with_images_only = true;
  // With image_only_layers: in the phases with images, the rest of the
  // language model (the embedding and the layers above) learns at this
  // fraction of lr while the image-only layers and the vision side keep
  // their full rates, as a VLM's language model is tuned gently on top of
  // what it knows.
  double upper_lr_scale = 1;
  // With image_only_layers: in the phases with images, the image-only layers
  // and the vision side (projector and tower) learn at this fraction of their
  // rates. 0 keeps what sees as it is while the layers above learn to use it,
  // as when continuing a demo model (--init-from) on more image problems.
  double seeing_lr_scale = 1;
  // Vision first: the caption phase (captions alone) comes before the text
  // phase, and the mix starts a schedule of its own. With
  // image_only_layers, the lower layers learn to see first and the facts are
  // then stored above them (run H1, docs/demo.md: a text phase on frozen
  // random lower layers lost its facts as soon as those layers learned).
  bool vision_first = true;
  // With vision_first: yes/no questions beside the captions in the first
  // phase, at this share against the captions' 1, so that matching a
  // question's object against the image forms while every layer learns from
  // images (0 = captions alone).
  double first_phase_yes_no_share = 1;
  // Peak learning rate of the mix's own schedule (vision_first) as a fraction
  // of lr and vision_lr, and its warm-up steps (negative = warmup_steps). A
  // low, warm-up-free mix keeps what the earlier phases stored where they
  // stored it (run H5, docs/demo.md: at a third of the rate the facts in the
  // upper layers survived; at the full rate they were erased in 50 steps).
  double mix_lr_scale = 0.4;
  int mix_warmup_steps = 0;
  // With image_only_layers: after the mix, a last phase of final_steps
  // (counted in steps) with a schedule of its own (peak final_lr_scale of the
  // rates, final_warmup_steps of warm-up), in which the image-only layers and
  // the vision side keep their weights while the layers above learn on the
  // final_* shares: the image problems are learned on top of the grounding
  // without the grounding being stored a second time.
  int final_steps = 0;
  double final_lr_scale = 0.2;
  int final_warmup_steps = 100;
  TaskShares final_mix{0.05, 0.1, 0.5, 0.2, 0.1, 0, 0.1};
  // Trains with lm_head tied to the input embedding (the saved model keeps
  // the usual untied layout, with lm_head a copy of the embedding). Reading a
  // category name and naming it then share one vector, which helps the model
  // match the object a question names against what it sees.
  bool tie_embeddings = true;
  // Initial weight scale (std of the normal init); 0 = 1/sqrt(fan_in) for
  // every projection (init_random). Hugging Face's 0.02 suits 4096-wide
  // models; for the 128-wide demo decoder 0.05 measured better (run E10,
  // docs/demo.md: POPE mean F1 0.936 against 0.915).
  double init_std = 0.05;
  // Decoder query/key projections at 1/sqrt(fan_in) whatever init_std is.
  bool qk_fan_in_init = false;
  // Initial scale of the token embedding (and lm_head); 0 = init_std. A
  // larger one keeps a token's own embedding large against what the first
  // MLPs add to it, so that text read by the layers above depends less on
  // those MLPs' transform of it (docs/demo.md, runs H18 and H21: at 1.0 the
  // 576-name body of knowledge sits in layers 4-5, not in layers 0-1).
  double embed_init_std = 1.0;
  SceneOptions scene;
  int log_every = 50;
  std::function<void(const TrainProgress&)> progress;
  // Called at the end of every phase but the last (the model as it stands,
  // lm_head up to date when tied), e.g. to keep a copy to continue from.
  std::function<void(const char* phase, size_t index)> phase_done;
  const std::atomic<bool>* cancel = nullptr;  // throws hipp::Cancelled when set
};

}  // namespace hipp
