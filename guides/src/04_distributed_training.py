# %% [markdown]
# # Distributed training of SigLIP with the Keras distribution API
#
# **Author:** keras_siglip contributors<br>
# **Date created:** 2026/11/27<br>
# **Last modified:** 2026/11/27<br>
# **Description:** Data and model parallelism on 8 devices, the paper's ring sigmoid
# loss, the memory it saves, and what changes on a TPU pod slice.

# %% [markdown]
# ## Introduction
#
# SigLIP's sigmoid loss scores every image of a batch against every text of the batch,
# and the paper's results come from batches of tens of thousands of pairs: far more than
# one accelerator holds. This guide shows how `keras_siglip` trains across several
# devices with Keras 3's distribution API on the JAX backend. You will learn:
#
# - how devices form a *mesh*, and how `keras_siglip.distribution.data_parallel()`
#   splits each global batch over it, with `fit` unchanged and the same losses as on
#   one device;
# - what the paper's **ring** sigmoid loss does (each device keeps its own images and
#   passes its texts round the ring of devices), checked against the dense loss of the
#   gathered batch, value and gradients;
# - how `model_parallel(mesh_shape=(batch, model))` shards the towers' large weights
#   over a second mesh axis with a layout map;
# - how much memory per device the ring saves against gathering the batch, as the
#   batch grows;
# - what changes on a real TPU pod slice with several hosts.
#
# No accelerator is needed: JAX can pretend that the CPU is 8 devices. The
# simulated devices share the machine's cores, so they show *what* runs where and how
# much memory each device needs, not how fast 8 real chips would be.
#
# The committed outputs of this notebook come from its full-scale run on a 2-core CPU,
# and every number quoted in the text is from that run. The test suite runs the same
# code at a smaller scale (`KERAS_SIGLIP_GUIDE_SCALE=ci`).

# %% [markdown]
# ## Setup
#
# JAX fixes its device count when it starts, so `XLA_FLAGS` must ask for 8 host devices
# *before* JAX (or Keras, which imports it) is imported. On a machine with real
# accelerators you would leave the flag out.

# %%
import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ["KERAS_BACKEND"] = "jax"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # TensorFlow only preprocesses here: less logging
SCALE = os.environ.get("KERAS_SIGLIP_GUIDE_SCALE", "full")

import jax
import keras
import matplotlib.pyplot as plt
import numpy as np

import keras_siglip
from keras_siglip import distribution, losses
from keras_siglip.data import augment, load_emoji
from keras_siglip.preprocessing import (
    SigLIPTokenizer,
    preprocess_images,
    train_sentencepiece,
)

if SCALE == "full":
    VARIANT, IMAGE_SIZE, SEQUENCE_LENGTH = "Pico/8", 32, 16
    GLOBAL_BATCH, STEPS = 64, 400
    MEMORY_PER_DEVICE_BATCHES = (32, 64, 128, 256, 512, 1024, 2048)
else:
    VARIANT, IMAGE_SIZE, SEQUENCE_LENGTH = "Pico/8", 16, 8
    GLOBAL_BATCH, STEPS = 32, 3
    MEMORY_PER_DEVICE_BATCHES = (32, 256)
SEED = 0
plt.rcParams["figure.dpi"] = 80
print(f"scale {SCALE}: {VARIANT} at {IMAGE_SIZE} px, global batch {GLOBAL_BATCH}, {STEPS} steps")
print(f"keras {keras.__version__}, jax {jax.__version__}, backend {keras.backend.backend()}")

# %% [markdown]
# ## Devices and a mesh
#
# `keras.distribution.list_devices()` lists the devices every process can see (here the
# 8 simulated CPU devices). A `DeviceMesh` arranges them in a grid with named axes; a
# distribution then says which tensor dimension is split over which axis. Pure data
# parallelism needs one axis, conventionally called `"batch"`; `data_parallel()` below
# builds this mesh by itself.

# %%
devices = keras.distribution.list_devices()
print(len(devices), "devices:", devices)
mesh = keras.distribution.DeviceMesh(shape=(8,), axis_names=["batch"], devices=devices)
print(mesh.backend_mesh)

# %% [markdown]
# ## The data: emoji and their names
#
# We train on the package's embedded dataset (OpenMoji artwork captioned with CLDR
# names, drawn from PyPI wheels, nothing downloaded) with a small SentencePiece
# vocabulary trained on the training captions, as `keras-siglip train` does. Each
# batch holds distinct emoji (so every off-diagonal pair really is a negative), each
# randomly rotated, scaled and shifted, and captioned with one of its names. We draw
# all batches up front, so that every run below sees exactly the same data.

# %%
data = load_emoji(seed=SEED, render_size=IMAGE_SIZE)
tokenizer = SigLIPTokenizer(
    train_sentencepiece(data.training_captions(), 1000, hard_vocab_limit=False),
    sequence_length=SEQUENCE_LENGTH,
)
emoji_images = preprocess_images(data.train.images, IMAGE_SIZE)
print(
    f"{len(data.train)} training emoji, {tokenizer.vocabulary_size} SentencePiece pieces, "
    f"images {emoji_images.shape[1:]} in [{emoji_images.min():.0f}, {emoji_images.max():.0f}]"
)


def draw_batches(num_batches, batch_size, seed):
    """`num_batches` batches of distinct augmented emoji, each with one of its names."""
    rng = np.random.default_rng(seed)
    images, captions = [], []
    for _ in range(num_batches):
        items = rng.choice(len(data.train), batch_size, replace=False)
        images.append(augment(emoji_images[items], rng))
        for item in items:
            choices = data.train.caption_choices[item]
            captions.append(choices[rng.integers(len(choices))])
    return {"images": np.concatenate(images), "token_ids": tokenizer(captions)}


train_data = draw_batches(STEPS, GLOBAL_BATCH, SEED)
print({name: array.shape for name, array in train_data.items()})

# %% [markdown]
# ## One device: the reference run
#
# First the run we want to reproduce: a SigLIP trained on one device. We keep its
# initial weights, to start every later run from the same point. `fit` runs one step
# per "epoch" (`steps_per_epoch=1`; the data iterator carries on from one epoch to the
# next), so that the history holds the loss of every step rather than running means.


# %%
def build_model():
    return keras_siglip.SigLIP.from_variant(
        VARIANT,
        image_size=IMAGE_SIZE,
        sequence_length=SEQUENCE_LENGTH,
        vocabulary_size=tokenizer.vocabulary_size,
    )


def train(model):
    """Compile `model` and fit it on `train_data`; returns the loss of each step."""
    model.compile(learning_rate=1e-3, warmup_steps=max(1, STEPS // 10), decay_steps=STEPS)
    history = model.fit(
        train_data,
        batch_size=GLOBAL_BATCH,
        steps_per_epoch=1,
        epochs=STEPS,
        shuffle=False,
        verbose=0,
    )
    return np.array(history.history["loss"])


keras.utils.set_random_seed(SEED)
reference_model = build_model()
initial_weights = reference_model.get_weights()
print(f"SigLIP {VARIANT}: {reference_model.count_params():,} parameters")
single_device_losses = train(reference_model)
print("one device, first steps:", np.round(single_device_losses[:5], 4))

# %% [markdown]
# ## Data parallelism
#
# `distribution.data_parallel()` is a `keras.distribution.DataParallel` over all the
# devices: every device holds a full copy of the weights, and each global batch is cut
# into 8 slices along its first dimension. Here is how one global batch of images is
# laid out: each device holds `GLOBAL_BATCH / 8` of them.

# %%
data_parallel = distribution.data_parallel()
print(data_parallel)
images = train_data["images"][:GLOBAL_BATCH]
layout = data_parallel.get_data_layout(images.shape)
sharded_images = keras.distribution.distribute_tensor(images, layout)
for shard in sharded_images.addressable_shards:
    print(f"{shard.device}: images {shard.index[0].start}-{shard.index[0].stop - 1}, shape {shard.data.shape}")

# %% [markdown]
# To train under the distribution, build the model (and load or set its weights) inside
# `data_parallel.scope()`: Keras places variables when they are created, and
# `SigLIP.compile` raises if a variable is not laid out as the distribution says. Then
# `fit` is called exactly as before, with the *global* batch size. We start from the
# reference run's initial weights and train on the same batches.

# %%
with data_parallel.scope():
    data_parallel_model = build_model()
    data_parallel_model.set_weights(initial_weights)
    data_parallel_losses = train(data_parallel_model)

kernel = data_parallel_model.image_encoder.weights[0]
print(f"{kernel.path}: {kernel.value.sharding}")
difference = np.abs(data_parallel_losses / single_device_losses - 1)
print("8 devices, first steps:", np.round(data_parallel_losses[:5], 4))
print(f"largest relative difference from one device, first 5 steps: {difference[:5].max():.1e}")
print(f"largest relative difference over all {STEPS} steps: {difference.max():.1e}")

# %% [markdown]
# The weights are replicated (the same full array on every device: `P(None, ...)`
# splits no dimension), and the first steps of the 8-device run give the same losses as
# the one-device run, to float32 round-off: the gradients of the 8 slices are summed over the devices, and
# the loss is the loss of the whole global batch, not an average of 8 per-device
# losses. That last point matters for SigLIP, and is what the next section is about.
# Over the whole run the two drift apart a little; the plot after the model-parallel
# run below shows how, and why.

# %% [markdown]
# ## The ring loss
#
# The sigmoid loss of a batch of `B` pairs sums over all `B x B` image-text pairs. With
# the batch split over `D` devices, each device holds `b = B / D` images and their `b`
# texts. Gathering every text onto every device would work, but each device would then
# hold all `B` text embeddings and a `b x B` block of logits, which grows with the
# number of devices. The paper (section 3.1) instead passes the texts round a ring:
#
# 1. each device scores its images against its own texts: a `b x b` block with the
#    positive pairs on its diagonal;
# 2. `D - 1` times, every device sends the texts it holds to its neighbour
#    (`jax.lax.ppermute`, a collective permute) and adds the block of its images against
#    the texts it received: negatives only.
#
# No device ever holds all `B` texts or a `b x B` block: only its own texts, the block
# of texts visiting it and one `b x b` block of logits. The gradient of each text block
# travels with it, so the backward pass needs no stored blocks either. The
# figure shows at which step each device (row) meets each device's texts (column): the
# diagonal is step 0, where the positives are.

# %%
num_devices = len(devices)
step_of_block = (np.arange(num_devices)[:, None] - np.arange(num_devices)[None, :]) % num_devices
figure, axis = plt.subplots(figsize=(4.2, 3.6))
image = axis.imshow(step_of_block, cmap="viridis")
for row in range(num_devices):
    for column in range(num_devices):
        axis.text(column, row, step_of_block[row, column], ha="center", va="center",
                  color="white" if step_of_block[row, column] < 4 else "black", fontsize=8)
axis.set_xlabel("texts of device")
axis.set_ylabel("images of device")
axis.set_title("ring step at which each b x b block is scored")
figure.colorbar(image, ax=axis, fraction=0.046)
plt.show()

# %% [markdown]
# `SigLIP` needs no code for this: under a distribution whose batch axis spans several
# devices, `fit` passes the two embeddings to `losses.sigmoid_loss`, which picks the
# ring by itself (`ring=None`). `ring=True` demands it, `ring=False` refuses it (then
# XLA gathers the sharded embeddings and computes the dense loss), and
# `bidirectional=True` passes texts both ways round the ring, in half the steps.
#
# Let us check the ring against the dense loss of the gathered batch, value and all four
# gradients, on random unit-length embeddings placed one slice per device.

# %%
rng = np.random.default_rng(SEED)


def unit_rows(num_rows, dim):
    rows = rng.normal(size=(num_rows, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype("float32")


batch_sharding = jax.sharding.NamedSharding(
    data_parallel.device_mesh.backend_mesh, jax.sharding.PartitionSpec("batch")
)
loss_inputs = [
    jax.device_put(unit_rows(GLOBAL_BATCH, 32), batch_sharding),
    jax.device_put(unit_rows(GLOBAL_BATCH, 32), batch_sharding),
    np.float32(np.log(10.0)),
    np.float32(-10.0),
]


def value_and_gradients(**options):
    function = jax.value_and_grad(
        lambda *inputs: losses.sigmoid_loss(*inputs, **options), argnums=(0, 1, 2, 3)
    )
    with data_parallel.scope():
        return jax.jit(function)(*loss_inputs)


def largest_relative_error(got, expected):
    got, expected = np.asarray(got, "float64"), np.asarray(expected, "float64")
    return np.max(np.abs(got - expected)) / np.max(np.abs(expected))


dense_value, dense_gradients = value_and_gradients(ring=False)
print(f"dense loss of the gathered batch: {float(dense_value):.6f}")
for options in ({"ring": True}, {"ring": True, "bidirectional": True}):
    value, gradients = value_and_gradients(**options)
    errors = [largest_relative_error(g, d) for g, d in zip(gradients, dense_gradients)]
    print(
        f"{str(options):40s} loss {float(value):.6f}; largest relative error of the "
        f"gradients (images, texts, log-temperature, bias): "
        + ", ".join(f"{error:.1e}" for error in errors)
    )

# %% [markdown]
# Same value, same gradients, to float32 round-off. The compiled programs show the
# difference: the ring passes texts with collective permutes and gathers nothing, while
# the dense loss on sharded embeddings makes XLA insert all-gathers.

# %%
def count_instructions(program, name):
    """How many `name` instructions (synchronous or asynchronous) a compiled program has."""
    return program.count(f" {name}(") + program.count(f" {name}-start(")


for options in ({"ring": True}, {"ring": False}):
    function = jax.value_and_grad(
        lambda *inputs, options=options: losses.sigmoid_loss(*inputs, **options),
        argnums=(0, 1, 2, 3),
    )
    with data_parallel.scope():
        program = jax.jit(function).lower(*loss_inputs).compile().as_text()
    print(
        f"{str(options):16s} collective-permute instructions: "
        f"{count_instructions(program, 'collective-permute')}, all-gather instructions: "
        f"{count_instructions(program, 'all-gather')}"
    )

# %% [markdown]
# ## Memory per device: ring against gathering
#
# What the ring buys is memory. We compile the loss's forward and backward pass on 8
# devices for growing batches and read XLA's own account of each device's program
# (`compiled.memory_analysis()`: temporaries, arguments and outputs). Nothing is
# executed, so this also works for batches that would not fit: the inputs are only
# shapes (`jax.ShapeDtypeStruct`). The embeddings have 256 features; `chunk_size` tiles
# each device's block further, as the single-device chunked loss does.

# %%
EMBEDDING_DIM = 256


def memory_per_device_mib(global_batch, **options):
    embeddings = jax.ShapeDtypeStruct((global_batch, EMBEDDING_DIM), "float32", sharding=batch_sharding)
    scalar = jax.ShapeDtypeStruct((), "float32")
    function = jax.value_and_grad(
        lambda *inputs: losses.sigmoid_loss(*inputs, **options), argnums=(0, 1, 2, 3)
    )
    with data_parallel.scope():
        compiled = jax.jit(function).lower(embeddings, embeddings, scalar, scalar).compile()
    memory = compiled.memory_analysis()
    total = memory.temp_size_in_bytes + memory.argument_size_in_bytes + memory.output_size_in_bytes
    return total / 2**20


strategies = {
    "gather (ring=False)": {"ring": False},
    "ring": {"ring": True},
    "ring, both ways": {"ring": True, "bidirectional": True},
    "ring, chunk_size=256": {"ring": True, "chunk_size": 256},
}
global_batches = [num_devices * b for b in MEMORY_PER_DEVICE_BATCHES]
memory = {
    name: [memory_per_device_mib(batch, **options) for batch in global_batches]
    for name, options in strategies.items()
}
print(f"{'global B':>9} {'per device':>10} " + " ".join(f"{name:>21}" for name in strategies))
for index, batch in enumerate(global_batches):
    print(
        f"{batch:>9,} {batch // num_devices:>10,} "
        + " ".join(f"{memory[name][index]:>17.1f} MiB" for name in strategies)
    )

# %%
figure, axis = plt.subplots(figsize=(5.5, 3.6))
for name, values in memory.items():
    axis.plot(global_batches, values, marker="o", label=name)
axis.set_xscale("log", base=2)
axis.set_yscale("log")
axis.set_xlabel("global batch size B (8 devices)")
axis.set_ylabel("MiB per device")
axis.set_title("sigmoid loss, forward + backward, per-device memory")
axis.legend(fontsize=8)
axis.grid(alpha=0.3)
plt.show()

# %% [markdown]
# With 8 devices fixed and the batch growing, both the gathered loss and the ring grow
# with the square of the batch, but the ring's block is `b x b` where the gather's is
# `b x B`, 8 times larger: at `B = 16,384` (2,048 pairs per device) gathering needs
# 422 MiB per device, the ring 50 MiB, passing texts both ways 88 MiB (two blocks
# travel at once). With `chunk_size=256` each block is tiled and the ring's memory
# grows only with `b`: 19.3 MiB. Seen the other way round, at a fixed per-device batch,
# the ring's memory stays flat as devices are added while the gather's grows with
# them: the table of `benchmarks/distributed_loss.py` in
# [benchmarks/README.md](../benchmarks/README.md#several-devices-distributed_losspy)
# shows that.

# %% [markdown]
# ## Model parallelism
#
# Data parallelism keeps a whole copy of the model on every device. When the model
# no longer fits, `distribution.model_parallel(mesh_shape=(batch, model))` builds a
# two-axis mesh: the batch is split over `"batch"` as before, and the towers' large
# kernels over `"model"`. Here 8 devices form 2 data-parallel replicas of 4 devices
# each. The layout map (`distribution.model_parallel_layout_map`) is a set of regular
# expressions over variable paths, Megatron style: attention query, key and value and
# the MLP expansion are split on their output features, the attention output and MLP
# contraction on their input features, the token embedding on the vocabulary.

# %%
model_parallel = distribution.model_parallel(mesh_shape=(2, 4))
print(model_parallel.device_mesh.backend_mesh)
layout_map = distribution.model_parallel_layout_map(model_parallel.device_mesh)
for pattern in layout_map:
    print(f"{pattern:45s} -> {layout_map[pattern].axes}")

# %% [markdown]
# Built inside the scope, each variable that a rule matches is split over the 4 devices
# of the `"model"` axis, and everything else is replicated. `check_layout_map` (which
# `compile` runs too) raises if a rule matches no variable, the usual way a model
# silently ends up replicated and out of memory.

# %%
with model_parallel.scope():
    model_parallel_model = build_model()
    model_parallel_model.set_weights(initial_weights)
sharded = distribution.check_layout_map(model_parallel_model, layout_map)
print(f"{len(sharded)} of {len(model_parallel_model.variables)} variables are sharded")
shown = {
    "image": (
        "encoder_block_0/attention/query/kernel",
        "encoder_block_0/attention/output/kernel",
        "encoder_block_0/mlp/expand/kernel",
        "encoder_block_0/mlp/contract/kernel",
        "final_norm/gamma",
    ),
    "text": ("token_embedding/embeddings",),
}
for tower_name, paths in shown.items():
    tower = getattr(model_parallel_model, f"{tower_name}_encoder")
    for variable in tower.variables:
        if variable.path in paths:
            shard = variable.value.addressable_shards[0].data
            print(
                f"{tower_name:5s} {variable.path:40s} {str(tuple(variable.shape)):11s} "
                f"spec {str(variable.value.sharding.spec):30s} per device {tuple(shard.shape)}"
            )


def bytes_per_device(model):
    return sum(v.value.addressable_shards[0].data.nbytes for v in model.variables)


print(
    f"weights per device: {bytes_per_device(model_parallel_model) / 2**20:.2f} MiB, against "
    f"{bytes_per_device(data_parallel_model) / 2**20:.2f} MiB replicated"
)

# %% [markdown]
# Each device now holds 0.38 MiB of weights instead of all 1.27 MiB: the sharded
# kernels and the token embedding are most of this small model.
#
# `fit` works unchanged. The loss still runs as a ring, now over the 2 devices of the
# `"batch"` axis, and the first steps again give the one-device losses.

# %%
with model_parallel.scope():
    model_parallel_losses = train(model_parallel_model)
difference = np.abs(model_parallel_losses / single_device_losses - 1)
print("2 x 4 mesh, first steps:", np.round(model_parallel_losses[:5], 4))
print(f"largest relative difference from one device, first 5 steps: {difference[:5].max():.1e}")
print(f"largest relative difference over all {STEPS} steps: {difference.max():.1e}")

# %%
figure, (axis, difference_axis) = plt.subplots(1, 2, figsize=(9, 3.2))
steps = np.arange(1, STEPS + 1)
for name, values, style in (
    ("1 device", single_device_losses, "-"),
    ("data parallel, 8 devices", data_parallel_losses, "--"),
    ("model parallel, 2 x 4", model_parallel_losses, ":"),
):
    axis.plot(steps, values, style, label=name)
    if values is not single_device_losses:
        difference_axis.plot(steps, np.abs(values - single_device_losses), style, label=name)
axis.set_xlabel("step")
axis.set_ylabel("training loss")
axis.legend(fontsize=8)
difference_axis.set_xlabel("step")
difference_axis.set_ylabel("|loss - one-device loss|")
difference_axis.set_yscale("log")
difference_axis.legend(fontsize=8)
figure.tight_layout()
plt.show()

# %% [markdown]
# The first steps agree to float32 round-off: the losses of the first 5 steps differ
# from the one-device ones by at most 1.2e-7 (data parallel) and 1.1e-7 (model
# parallel). Over the
# run the differences grow, exponentially at first (right, on a log scale). Training
# is chaotic: the distributed runs add up the same gradients in another order (per
# device, then across devices), which changes the last bits of the weights, and later
# steps amplify such differences. After a few hundred steps the curves differ by at
# most 1.9% (data parallel) and 4.7% (model parallel) of a step's loss, comparable to
# the loss's own jitter from one batch to the next, and all three follow the same
# course: a plateau near 5.15, the loss of a model that has learnt only the bias
# (`log B + (B - 1) log(B / (B - 1))` for `B = 64`), and the same descent from about
# step 150 on. Expect the same on real hardware: distributed runs are equivalent to
# one device step by step, not bit for bit over a whole run.

# %% [markdown]
# ## What the model learned
#
# A model trained under a distribution is an ordinary Keras model: its encoders and
# `predict` need no scope. We embed 256 training emoji (without augmentation) and their
# names with the data-parallel model and ask, for each image, whether its own name is
# the closest of the 256 names (recall@1, chance 1/256), and the other way round.

# %%
items = np.random.default_rng(SEED + 1).choice(len(data.train), 256, replace=False)
names = [data.train.captions[item] for item in items]
image_embeddings = np.asarray(data_parallel_model.encode_images(emoji_images[items]))
text_embeddings = np.asarray(data_parallel_model.encode_texts(tokenizer(names)))
recall = keras_siglip.evaluation.retrieval_metrics(image_embeddings, text_embeddings)
print(
    f"recall@1 among {recall['retrieval_candidates']} training emoji: image to text "
    f"{recall['i2t_recall@1']:.1%}, text to image {recall['t2i_recall@1']:.1%} "
    f"(chance {1 / recall['retrieval_candidates']:.1%})"
)
similarity = image_embeddings[:8] @ text_embeddings[:8].T
figure, axis = plt.subplots(figsize=(5.5, 4.5))
image = axis.imshow(similarity, cmap="magma")
axis.set_xticks(range(8), names[:8], rotation=60, ha="right", fontsize=8)
axis.set_yticks(range(8), [f"image of {name}" for name in names[:8]], fontsize=8)
figure.colorbar(image, ax=axis, fraction=0.046)
axis.set_title("cosine similarity of image and text embeddings")
plt.show()

# %% [markdown]
# 400 steps of a model of 332,674 parameters at a batch of 64 only begin to
# learn: recall@1 of 2.3% (image to text) and 1.2% (text to image) against a chance of
# 0.4%, and the diagonal of the heatmap stands out in a few rows only. Learning well is
# not this guide's subject (`02_training_from_scratch` trains a larger model for
# longer); the point is that the same `fit` call trains on 8 devices.

# %% [markdown]
# ## On a real TPU pod slice
#
# The code above runs unchanged on a pod slice of many chips; what changes is around it.
#
# **Several hosts.** A pod slice is driven by several host machines, each attached to a
# few chips, and every host runs the same program. Before any other JAX call, each
# process joins the others:
#
# ```python
# import keras
#
# keras.distribution.initialize()  # Cloud TPU: the hosts find each other by themselves
# # GPU machines or your own cluster: say where process 0 listens and who this is
# # keras.distribution.initialize(job_addresses="10.0.0.1:1234", num_processes=4, process_id=i)
# ```
#
# `keras.distribution.initialize` calls `jax.distributed.initialize`, which you may call
# directly instead. Afterwards `keras.distribution.list_devices()` lists the chips of
# every host (`jax.local_devices()` only this host's), and `data_parallel()` or
# `model_parallel(...)` builds its mesh over all of them; the ring runs over the whole
# batch axis, across hosts. Simulated devices cannot show this part, but
# `tests/multihost_checks.py` runs it with two local processes of 4 CPU devices each.
#
# **Each host reads its own data.** With several processes, each one feeds only its
# share of every global batch. There are two ways:
#
# - give each process its own files and build the distribution with
#   `auto_shard_dataset=False` (`data_parallel(auto_shard_dataset=False)`, and the same
#   argument of `model_parallel`). Each process's dataset then yields batches of
#   `global_batch / num_processes` pairs, and Keras assembles the global batch from the
#   pieces (`jax.make_array_from_process_local_data`);
# - or pass one `tf.data` pipeline batched at the global size and let Keras shard it by
#   process (the default, `auto_shard_dataset=True`): it re-batches the pipeline and
#   keeps every `num_processes`-th piece, so every host still reads every record.
#
# The first way scales, and it is how the corpus readers of `keras_siglip.data` work
# (`webdataset_corpus`, `tfrecord_corpus`, `caption_table_corpus`, or `open_corpus`,
# which picks one from the file names): each process reads every `process_count()`-th
# file of the sorted list, starting at its own `process_index()` (a caption table is
# split by rows), and their `batch_size` is the per-process batch. Write many more
# shards than there are hosts. On every host:
#
# ```python
# dist = keras_siglip.distribution.data_parallel(auto_shard_dataset=False)
# dataset = keras_siglip.data.open_corpus(
#     "corpus/*.tar", preprocessor, batch_size=global_batch // jax.process_count(), repeat=True
# )
# with dist.scope():
#     model = keras_siglip.SigLIP.from_variant("B/16", image_size=224, sequence_length=64,
#                                              vocabulary_size=32_000, dtype="mixed_bfloat16")
#     model.compile(learning_rate=1e-3 * global_batch / 32_768)
#     model.fit(dataset, steps_per_epoch=steps, epochs=1)
# ```
#
# **Global and per-device batch.** The batch size `fit` sees is the global batch `B`,
# the number of pairs every loss term ranges over; each device on the batch axis holds
# `b = B / D` of them. The paper's gains from a larger batch saturate around 32k pairs:
# on 256 chips that is `b = 128` per chip. Raise the peak learning rate with `B` (the
# example in [docs/several_devices.md](../docs/several_devices.md) uses
# `1e-3 * B / 32768`).
#
# **bfloat16.** `SigLIP.from_variant(..., dtype="mixed_bfloat16")` runs the towers in
# bfloat16, the format TPU matrix units are built for, while the variables, the logits
# and the loss stay in float32; the ring loss casts the embeddings to float32 before it
# passes them round.
#
# **The ring at pod scale.** Per device the ring holds one `b x b` block of logits and
# a few `b x dim` text blocks (its own, the visiting ones and their gradient); gathering holds all
# `B x dim` texts and a `b x B` block, and more such blocks in the backward pass. At
# `B = 32,768` on 256 chips a float32 `b x B` block is 16 MiB and a `b x b` block
# 64 KiB; at the paper's largest SigLiT batch, about a million pairs, on 1,024 chips
# (`b = 1,024`) they are 4 GiB and 4 MiB. The traffic is the same either way (every
# device receives `D - 1` text blocks of `b x dim`, and as many gradient blocks flow
# back, through the gather's reduce-scatter or with the ring's travelling texts): the
# ring removes memory, not communication. Its `D - 1` hops run
# one after the other, each with only a `b x b x dim` matrix product to hide behind, so
# with a small `b` over many chips the hops' latency can show; `bidirectional=True`
# halves their number for one more travelling block per device. The memory measured
# above is XLA's estimate for the CPU; a TPU compiler plans memory its own way, but the
# trend, flat for the ring and growing with the number of devices for the gather, is the
# arithmetic above.

# %% [markdown]
# ## What next
#
# - `benchmarks/distributed_loss.py` measures the ring's per-device memory and step time
#   at 1, 2, 4 and 8 devices; run it on your hardware.
# - [docs/several_devices.md](../docs/several_devices.md) sums up the mesh shapes and
#   the multi-host set-up; `keras_siglip.distribution`'s docstrings give every option.
# - For batches beyond what the devices hold even with the ring, tile each block with
#   `chunk_size` (as above), or lock the image tower and train the text tower with
#   gradient caching (`keras_siglip.training.GradientCachedSigLiT`), the way towards
#   the paper's SigLiT batch sizes.
# - The other guides in this folder train, evaluate and fine-tune on one device; the
#   `scope()` pattern of this guide is how to spread such training over several.
