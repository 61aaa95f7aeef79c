# %% [markdown]
# # Training SigLIP from scratch with `model.fit`
#
# **Author:** keras_siglip contributors<br>
# **Date created:** 2026/11/27<br>
# **Last modified:** 2026/11/27<br>
# **Description:** Train a small SigLIP on the embedded emoji dataset with `fit`,
# evaluate it on held-out data after every epoch, watch the temperature and bias
# learn, and save it as a preset.

# %% [markdown]
# ## Introduction
#
# SigLIP learns from pairs of an image and a text. For a batch of B pairs, its loss
# looks at all B x B combinations and asks of each one, with a sigmoid, "do these two
# belong together?": the B true pairs should say yes, the B(B - 1) others no. Unlike
# CLIP's softmax loss, no pair competes with the rest of its row, so the loss needs no
# normalisation over the batch.
#
# This guide trains such a model from scratch, in a notebook, with the ordinary Keras
# workflow. You will:
#
# 1. load the dataset that ships with the package and look at it;
# 2. train a SentencePiece vocabulary on its captions and tokenize with SigLIP's rules;
# 3. build a model from a named variant and compile it with the paper's defaults,
#    and see what those defaults are and why;
# 4. feed `fit` from a Python generator of augmented batches;
# 5. log zero-shot accuracy and retrieval recall on held-out data after every epoch
#    with the evaluation callbacks, and plot them with the loss;
# 6. follow the learnt temperature and bias;
# 7. look at a heatmap of image-text scores after training;
# 8. save the model as a preset directory and load it back.
#
# The committed outputs of this notebook come from its full-scale run (a 1.6
# million-parameter `Nano/8` model, 1,500 steps of 64 pairs on two CPU cores); the
# numbers in the prose are the ones these outputs show.

# %% [markdown]
# ## Setup

# %%
import os
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np

from keras_siglip import SigLIP, SigLIPPreprocessor, SigLIPTokenizer, SigmoidLoss
from keras_siglip.data import load_emoji
from keras_siglip.data.emoji_batches import TrainingStream
from keras_siglip.evaluation import RetrievalEvaluation, ZeroShotEvaluation
from keras_siglip.losses import sigmoid_loss
from keras_siglip.preprocessing import train_sentencepiece

SCALE = os.environ.get("KERAS_SIGLIP_GUIDE_SCALE", "full")
# Full scale: 15 epochs of 100 steps. CI scale: the same code on a tiny budget.
VARIANT, EPOCHS, STEPS_PER_EPOCH, BATCH_SIZE = {
    "full": ("Nano/8", 15, 100, 64),
    "ci": ("Pico/8", 2, 3, 32),
}[SCALE]
IMAGE_SIZE, SEQUENCE_LENGTH, VOCABULARY_SIZE = 32, 16, 1000
keras.utils.set_random_seed(0)
plt.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80})
print(f"keras {keras.__version__}, backend {keras.backend.backend()}, scale {SCALE}")

# %% [markdown]
# ## The data
#
# `keras_siglip.data.load_emoji` draws the embedded dataset from PyPI wheels, with no
# download: OpenMoji emoji rendered on white and captioned with their CLDR names and
# aliases ("dog face", "flag: France"), and scikit-learn's 8 x 8 handwritten digits,
# captioned "the digit seven", "a handwritten seven" and so on. It splits by item: the
# held-out emoji never appear in training under any name, which makes retrieval among
# them a test of generalisation to new words and new artwork. A quarter of the digit
# images are held out for zero-shot classification.

# %%
data = load_emoji(seed=0, num_held_out=300, render_size=64)
print(f"emoji: {len(data.train)} for training, {len(data.test)} held out")
print(f"digits: {len(data.digits_train)} for training, {len(data.digits_test)} held out")
print("the names of one training emoji:", next(c for c in data.train.caption_choices if len(c) > 2))

# %%
rng = np.random.default_rng(0)
shown = rng.choice(len(data.train), 14, replace=False)
figure, axes = plt.subplots(2, 8, figsize=(12, 3.6))
items = [(data.train.images[i], data.train.captions[i]) for i in shown]
items += [(data.digits_train.images[i], data.digits_train.captions[i]) for i in (0, 1)]
for axis, (image, caption) in zip(axes.flat, items):
    axis.imshow(image)
    axis.set_title(caption if len(caption) < 22 else caption[:20] + "…", fontsize=8)
    axis.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## A vocabulary and a tokenizer
#
# SigLIP tokenizes with SentencePiece. The official models use a 32,000-piece English
# vocabulary; for a few thousand short captions, 1,000 pieces trained on the training
# captions are plenty. `train_sentencepiece` trains one in memory with SigLIP's id
# layout (pad 0, EOS 1, unknown 2). Training only on the training captions keeps the
# held-out names honest: their rarer words must be spelt from smaller pieces.
# (`hard_vocab_limit=False` is a SentencePiece option that lets it return fewer pieces
# if the corpus cannot fill the vocabulary.)

# %%
vocabulary = train_sentencepiece(data.training_captions(), VOCABULARY_SIZE, hard_vocab_limit=False)
tokenizer = SigLIPTokenizer(vocabulary, sequence_length=SEQUENCE_LENGTH)
preprocessor = SigLIPPreprocessor(tokenizer, image_size=IMAGE_SIZE)
print(f"{tokenizer.vocabulary_size} pieces; EOS id {tokenizer.eos_id}, pad id {tokenizer.pad_id}")
ids = tokenizer(["Flag: France", "a handwritten SEVEN!"])
print(ids)
print(tokenizer.detokenize(ids))

# %% [markdown]
# Every text becomes exactly `SEQUENCE_LENGTH` ids: canonicalised (lower case, no
# punctuation), EOS appended, then padded *with the EOS id*. The text tower reads its
# output from the last position, so this "sticky EOS" padding is what puts the end of
# the sentence there, whatever its length. Padding to the longest text of a batch
# instead would silently change what the last position holds; the model refuses token
# ids of any other length.
#
# The preprocessor pairs the tokenizer with the image side: it squashes images to
# 32 x 32 and scales them to [-1, 1].

# %%
few_images = preprocessor({"images": data.train.images[:4]})["images"]
print(few_images.shape, float(few_images.min()), float(few_images.max()))

# %% [markdown]
# ## The model
#
# `SigLIP.from_variant` builds both towers from a big_vision-style variant string:
# `Nano/8` is a width-128 vision transformer with patches of 8 pixels and a text
# transformer of the same width (`Pico/8` at CI scale). The text tower needs the
# sequence length and vocabulary size.

# %%
model = SigLIP.from_variant(
    VARIANT, image_size=IMAGE_SIZE, sequence_length=SEQUENCE_LENGTH,
    vocabulary_size=tokenizer.vocabulary_size,
)
print(f"{VARIANT}: {model.count_params():,} parameters "
      f"(image tower {model.image_encoder.count_params():,}, text tower {model.text_encoder.count_params():,})")
print(f"log_temperature t' = {float(model.log_temperature.numpy()):.4f} (log 10 = {np.log(10):.4f}), "
      f"bias b = {float(model.bias.numpy()):.1f}")

# %% [markdown]
# Besides the towers the model has two scalar weights: the logit of a pair is
# `exp(t') * cos(image, text) + b`. The paper initialises the log-temperature `t'` at
# log 10 and the bias `b` at -10 (keras-hub and transformers start both at 0).
#
# Why -10? In a batch of B pairs, only B of the B x B pairs are positives. A bias of
# -10 makes every pair start out as a confident "no", which is right for all but the B
# positives, so the first steps are not spent un-learning a flood of false "yes"
# answers. The loss at initialisation shows it: with the paper's values the
# negatives contribute almost nothing and the loss is about 10 (one positive per image
# at a logit near -10); with both at zero every one of the B x B pairs costs log 2, and
# the loss, which sums over all pairs and divides by B, starts near B log 2.

# %%
batch = preprocessor({"images": data.train.images[:BATCH_SIZE], "texts": data.train.captions[:BATCH_SIZE]})
image_embeddings = model.encode_images(batch["images"])
text_embeddings = model.encode_texts(batch["token_ids"])
for name, log_temperature, bias in (("paper: t' = log 10, b = -10", np.log(10.0), -10.0), ("zeros: t' = 0, b = 0", 0.0, 0.0)):
    value = float(sigmoid_loss(image_embeddings, text_embeddings, log_temperature, bias))
    print(f"{name:28s} initial loss {value:7.3f}")
print(f"B log 2 = {BATCH_SIZE * np.log(2):.3f}")

# %% [markdown]
# ## Compiling with the paper's defaults
#
# `compile()` with no optimizer sets up what the paper and big_vision use:
#
# - **AdamW** with beta_2 = 0.95 (more stable than 0.999 for these models) and
#   gradient clipping at a global norm of 1;
# - **decoupled weight decay** as in big_vision: each step shrinks a kernel by
#   `weight_decay` times the schedule's fraction of the peak rate, independent of the
#   learning rate itself;
# - decay on **Dense and Conv kernels only**: biases, layer norms, embeddings, the
#   attention-pooling probe, and the temperature and bias never decay (pulling the
#   bias towards 0 would undo its initialisation);
# - the **sigmoid loss**; `loss="softmax"` gives CLIP's for comparison;
# - a learning-rate schedule when you give `decay_steps`: linear warm-up for
#   `warmup_steps`, then cosine decay.

# %%
total_steps = EPOCHS * STEPS_PER_EPOCH
model.compile(learning_rate=1e-3, weight_decay=1e-4, warmup_steps=max(1, total_steps // 20), decay_steps=total_steps)
decays = {id(v) for v in model.trainable_variables} - {id(v) for v in model.variables_without_decay()}
print(f"optimizer: {type(model.optimizer).__name__}, beta_2 {model.optimizer.beta_2}, "
      f"clip norm {model.optimizer.global_clipnorm}")
print(f"{len(model.trainable_variables)} trainable variables, {len(decays)} of them decay:")
print(sorted({v.path.split('/')[-1] for v in model.trainable_variables if id(v) in decays}))
print("never decay:", sorted({v.path.split('/')[-1] for v in model.variables_without_decay()}))

# %% [markdown]
# **Large batches.** For each batch, the loss above forms the B x B logits. That is
# nothing at B = 64, but at the paper's batch sizes (16k to 32k pairs) the logits and
# their gradient take gigabytes. `SigmoidLoss(chunk_size=N)` computes the same loss
# and gradient in N x N tiles and never holds the whole matrix
# (`model.compile(loss=SigmoidLoss(chunk_size=1024))`; the model also switches to it
# by itself from a batch of 8,192 pairs). The value is the same, to float32
# round-off. [docs/model.md](../docs/model.md#losses) explains how, and
# [benchmarks/README.md](../benchmarks/README.md#sigmoid-loss-losspy) has the memory
# and time it saves.

# %%
dense = sigmoid_loss(image_embeddings, text_embeddings, np.log(10.0), -10.0)
chunked = SigmoidLoss(chunk_size=16)(image_embeddings, text_embeddings, np.log(10.0), -10.0)
print(f"dense {float(dense):.6f}, chunked in 16 x 16 tiles {float(chunked):.6f}")

# %% [markdown]
# ## The input pipeline
#
# `fit` accepts a Python generator. `keras_siglip.data.emoji_batches.TrainingStream`
# is the one the main job, `keras-siglip train`, feeds `fit` from, and we use it as
# it is. It preprocesses the training images and tokenises every caption choice once,
# up front, then draws each batch afresh: distinct emoji (so that no two pairs of a
# batch share a meaning: the loss treats every other pair as a negative) plus two
# images of each digit, a caption chosen at random among each item's names, and a
# random rotation, zoom and shift from `keras_siglip.data.augment` (colours and
# orientation stay: in emoji they carry meaning, "red heart", "left arrow"). Its
# `batches()` yields one-tuples: the inputs, and no targets (the pairs are their own
# labels). For a corpus on disk, a `tf.data` pipeline with `dataset.map(preprocessor)`
# works the same way: the preprocessor runs inside `tf.data`.

# %%
stream = TrainingStream(data, preprocessor, batch_size=BATCH_SIZE, seed=1, digits_per_class=2)
print(f"each batch: {stream.num_emoji} emoji and {stream.digits_per_class} images of each of "
      f"{stream.num_classes} digits")
(example,) = next(stream.batches())
print({key: (value.shape, value.dtype) for key, value in example.items()})
print(tokenizer.detokenize(example["token_ids"][:6]))


# %% [markdown]
# ## Evaluation callbacks
#
# The training loss says how well the model fits its batches. What we care about is
# how it does on data it never trained on, and the evaluation callbacks add those
# numbers to the logs at the end of every epoch, where `History`, the progress bar and
# callbacks such as `EarlyStopping` see them:
#
# - `ZeroShotEvaluation` builds a zero-shot classifier from the current text tower
#   (prompts such as "a photo of the digit seven.") and logs the top-1 accuracy on the
#   449 held-out digit images: `val_zero_shot_top1`, chance 10%.
# - `RetrievalEvaluation` embeds the 300 held-out emoji and their names and logs
#   recall@1 and recall@5 both ways (`val_i2t_recall@1`, `val_t2i_recall@5`, ...),
#   chance k / 300.
#
# A small callback of our own records the temperature and bias at the end of each
# epoch.

# %%
templates = ["a photo of the digit {}.", "a picture of the number {}.", "{}, handwritten."]
zero_shot = ZeroShotEvaluation(
    preprocessor({"images": data.digits_test.images})["images"],
    data.digits_test.labels,
    list(data.class_names),
    tokenizer,
    templates=templates,
)
held_out = preprocessor({"images": data.test.images, "texts": data.test.captions})
retrieval = RetrievalEvaluation(held_out["images"], held_out["token_ids"], ks=(1, 5))


class TemperatureAndBias(keras.callbacks.Callback):
    """Logs exp(log_temperature) and bias after every epoch."""

    def on_epoch_end(self, epoch, logs=None):
        logs["temperature"] = float(np.exp(self.model.log_temperature.numpy()))
        logs["bias"] = float(self.model.bias.numpy())


# %% [markdown]
# ## Training

# %%
history = model.fit(
    stream.batches(),
    epochs=EPOCHS,
    steps_per_epoch=STEPS_PER_EPOCH,
    shuffle=False,  # the generator draws random batches itself
    callbacks=[zero_shot, retrieval, TemperatureAndBias()],
    verbose=2,
)

# %% [markdown]
# ## Loss and held-out metrics
#
# `history.history` holds one value per epoch for the loss and for every key the
# callbacks logged. Dashed lines are chance.

# %%
logs = history.history
epochs = np.arange(1, len(logs["loss"]) + 1)
candidates = logs["val_retrieval_candidates"][-1]
figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
axes[0].plot(epochs, logs["loss"], marker="o")
axes[0].set(title="training loss (mean over the epoch)", xlabel="epoch", yscale="log")
axes[1].plot(epochs, logs["val_zero_shot_top1"], marker="o", label="zero-shot top-1")
axes[1].axhline(0.1, color="grey", linestyle="--", label="chance")
axes[1].set(title="held-out digits, 10 classes", xlabel="epoch", ylim=(0, 1))
axes[1].legend()
for key, style in (("val_i2t_recall@1", "o-"), ("val_t2i_recall@1", "s-"), ("val_i2t_recall@5", "o--"), ("val_t2i_recall@5", "s--")):
    axes[2].plot(epochs, logs[key], style, label=key[4:])
axes[2].axhline(5 / candidates, color="grey", linestyle=":", label="chance@5")
axes[2].set(title=f"retrieval among {candidates} held-out emoji", xlabel="epoch")
axes[2].legend(fontsize=8)
plt.tight_layout()
plt.show()
final = {key: round(values[-1], 4) for key, values in logs.items()}
print(final)

# %% [markdown]
# What the full-scale run shows (the numbers printed above):
#
# - The training loss falls steadily, from 5.10 over the first epoch to 2.23 over the
#   last, on batches it has never seen in that form (every batch is drawn and
#   augmented afresh).
# - Retrieval among the 300 held-out emoji rises from chance to a recall@1 of 5.3%
#   (image to text) and 5.0% (text to image), and a recall@5 of 16.0% and 12.7%,
#   against a chance of 0.33% and 1.7%: the model links words it has seen to new
#   artwork and new names, but only in part.
# - Zero-shot accuracy on the held-out digits stays at chance for five epochs, then
#   climbs, noisily (35% after epoch 8, 31% after epoch 10), to 44% after the last
#   (chance 10%). Ten short prompts are a narrow target, so it moves more from epoch
#   to epoch than the retrieval numbers. The main job trains on more pairs (1,800 steps of 128) and
#   reports more; see [docs/main_job.md](../docs/main_job.md).

# %% [markdown]
# ## The learnt temperature and bias
#
# Both scalars train with the towers. The temperature sets how far the logits spread
# (cosine similarities lie in [-1, 1], so the logits lie within plus or minus the
# temperature of the bias), and the bias sets where "yes" begins.

# %%
figure, axes = plt.subplots(1, 2, figsize=(9, 3.2))
axes[0].plot(epochs, logs["temperature"], marker="o")
axes[0].axhline(10, color="grey", linestyle="--", label="initial value 10")
axes[0].set(title="temperature exp(t')", xlabel="epoch")
axes[0].legend()
axes[1].plot(epochs, logs["bias"], marker="o")
axes[1].axhline(-10, color="grey", linestyle="--", label="initial value -10")
axes[1].set(title="bias b", xlabel="epoch")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Here the temperature dipped to 9.80 in the first five epochs and then rose to 10.65,
# while the bias stayed within 0.03 of -10. With Adam at a peak learning rate of
# 0.001, a scalar moves by at most about 0.001 per step, so over 1,500 steps the bias
# could have moved by about 1.5 had its gradient kept one sign: its gradients mostly
# cancelled out. The paper's runs, at batches of thousands of pairs, start from the
# same values.

# %% [markdown]
# ## Image-text scores after training
#
# A heatmap of sigmoid(logit) for eight held-out emoji against their names: each cell
# is the model's probability that the image and the text belong together. The true
# pairs lie on the diagonal; SigLIP scores each cell on its own, so a row can hold
# several likely texts or none.

# %%
few = list(range(0, 300, 38))  # eight held-out emoji spread through the list
captions = [data.test.captions[i] for i in few]
inputs = preprocessor({"images": data.test.images[few], "texts": captions})
probabilities = keras.ops.convert_to_numpy(keras.ops.sigmoid(model(inputs)))
figure, axis = plt.subplots(figsize=(7, 6))
axis.imshow(probabilities, cmap="viridis", vmin=0, vmax=1)
for (row, column), value in np.ndenumerate(probabilities):
    axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=8,
              color="black" if value > 0.5 else "white")
axis.set_xticks(range(8), captions, rotation=45, ha="right", fontsize=9)
axis.set_yticks(range(8), [""] * 8)
for row, image in enumerate(data.test.images[few]):
    axis.imshow(image, extent=(-1.5, -0.5, row + 0.5, row - 0.5))
axis.set_xlim(-1.5, 7.5)
axis.set_ylim(7.5, -0.5)  # each imshow above reset the limits to its own extent
axis.set_title("after training: held-out emoji (rows) against their names", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Saving and reloading
#
# `save_to_preset` writes a preset directory: the config (read back in Keras' safe
# mode), the weights, and, given the preprocessor, its settings and the SentencePiece
# vocabulary. `SigLIP.from_preset` and `SigLIPPreprocessor.from_preset` read it back;
# the reloaded pair gives the same logits.

# %%
preset_dir = os.path.join(tempfile.mkdtemp(), "nano_emoji")
model.save_to_preset(preset_dir, preprocessor=preprocessor, description="Nano/8 trained in guide 2.")
print(sorted(os.listdir(preset_dir)))
reloaded = SigLIP.from_preset(preset_dir)
reloaded_preprocessor = SigLIPPreprocessor.from_preset(preset_dir)
again = reloaded_preprocessor({"images": data.test.images[few], "texts": captions})
difference = np.abs(keras.ops.convert_to_numpy(reloaded(again)) - keras.ops.convert_to_numpy(model(inputs))).max()
print(f"largest difference between the logits of the saved and reloaded model: {difference:.2e}")

# %% [markdown]
# ## What next
#
# - Guide 1 loads a preset like this one and uses it for zero-shot classification and
#   retrieval, and shows how official checkpoints load.
# - The same `fit` works under `keras_siglip.distribution` on several devices, where
#   the model switches to the paper's ring loss; see guide 4 and
#   [docs/several_devices.md](../docs/several_devices.md).
# - At large batches, compile with `loss=SigmoidLoss(chunk_size=1024)` (or let the
#   model switch from 8,192 pairs on); see [docs/model.md](../docs/model.md#losses).
# - To fine-tune a pretrained image tower instead of training it, see LiT in guide 3
#   and [docs/presets.md](../docs/presets.md#lit-locked-towers):
#   `SigLIP(..., locked_towers=("image",))` and `compile(towers_without_decay=...)`.
