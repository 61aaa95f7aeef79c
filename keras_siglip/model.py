"""`SigLIP`: two towers, a learnable temperature and bias, and the sigmoid loss."""

import math

import keras
from keras import ops

from keras_siglip import losses as losses_module
from keras_siglip import preset_hooks
from keras_siglip.losses.logits import (
    check_batches,
    l2_normalize,
    pairwise_logits,
    static_batch_size,
)
from keras_siglip.model_compile import CompileMixin
from keras_siglip.model_export import ServingMixin
from keras_siglip.towers import ImageEncoder, TextEncoder, decode_variant
from keras_siglip.validation import (
    TOWERS,
    check_batches_before_steps,
    check_images,
    check_paired_inputs,
    check_token_id_values,
    check_token_ids,
    check_tower_names,
)

PAPER_LOG_TEMPERATURE_INIT = math.log(10.0)
PAPER_BIAS_INIT = -10.0
# From this batch size on, training uses the chunked sigmoid loss unless the loss
# sets its own `chunk_size`: here the dense loss's B x B float32 buffers (logits,
# their gradient, temporaries: 0.75 to 1 GiB) outgrow everything else the loss holds,
# and the chunked loss is at least as fast (benchmarks/loss.py).
CHUNKED_LOSS_BATCH_SIZE = 8192


@keras.saving.register_keras_serializable(package="keras_siglip")
class SigLIP(CompileMixin, ServingMixin, keras.Model):
    """SigLIP: an image tower and a text tower trained with the sigmoid loss.

    `call({"images": ..., "token_ids": ...})` returns the `(num_images, num_texts)`
    logits `exp(log_temperature) * <x_i, y_j> + bias` of the L2-normalised
    embeddings; `compute_loss` turns the logits already computed into the loss, so
    a training step runs each tower once.

    Large batches: with the sigmoid loss, training (`fit`, `train_on_batch`) goes
    through the chunked loss, which never forms the `B x B` logits, when the loss
    was compiled with a `chunk_size` (`compile(loss=SigmoidLoss(chunk_size=1024))`)
    or, by itself, when the batch has at least `CHUNKED_LOSS_BATCH_SIZE` (8,192)
    pairs or a batch size unknown while tracing (a `tf.data` pipeline without
    `drop_remainder`), with `losses.DEFAULT_CHUNK_SIZE`. For those batches
    `call(..., training=True)` returns the embeddings,
    `{"image_embeddings": ..., "text_embeddings": ...}`, instead of the logits, and
    `compute_loss` takes them; `call` in inference mode (the default, and what
    `predict` and `evaluate` use) always returns the logits.

    Several devices: under a `keras.distribution` on JAX whose batch axis spans
    several devices (`keras_siglip.distribution.data_parallel()` or
    `model_parallel(...)`), training likewise passes the embeddings to the paper's
    ring loss (`keras_siglip.losses.ring`), which never gathers them on one device.
    `compile(loss=SigmoidLoss(ring=False))` keeps the dense loss.

    Locked-image tuning (LiT, and SigLiT in the paper): `locked_towers=("image",)`
    freezes the image tower (its `trainable` is False, so `fit` leaves its weights
    as they are) and runs it in inference mode (no dropout) even while training;
    the text tower, `log_temperature` and `bias` train. `("text",)` locks the text
    tower instead. A pretrained tower that trains instead of being locked does
    better without weight decay (the paper, for LiT): exclude it with
    `compile(towers_without_decay=("image",))`. `locked_towers` is part of the
    config, so a saved model comes back locked; `model.locked_towers = (...)`
    changes it on a loaded model (then `compile` again, as after any change of
    `trainable`).

    Args:
        image_encoder: an `ImageEncoder` (or any Keras model mapping images in
            [-1, 1] to `(batch, dim)` embeddings, with an `image_size` attribute).
        text_encoder: a `TextEncoder` (or a model mapping `(batch,
            sequence_length)` token ids to `(batch, dim)`, with `sequence_length`
            and `vocabulary_size` attributes).
        log_temperature_init: initial log-temperature; the paper's `log(10)`.
        bias_init: initial bias; the paper's -10.
        locked_towers: the towers to lock, a tuple of `"image"` and/or `"text"`;
            `()` unlocks both. `None` (the default) keeps the towers' own
            `trainable` flags.

    Example:

    >>> import numpy as np
    >>> model = SigLIP.from_variant("Pico/8", image_size=32, sequence_length=8,
    ...                             vocabulary_size=100)
    >>> inputs = {"images": np.zeros((4, 32, 32, 3), "float32"),
    ...           "token_ids": np.ones((4, 8), "int32")}
    >>> tuple(model(inputs).shape)
    (4, 4)
    >>> model.compile()
    >>> history = model.fit(inputs, epochs=1, verbose=0)

    LiT: lock the image tower, train the text tower.

    >>> lit = SigLIP.from_variant("Pico/8", image_size=32, sequence_length=8,
    ...                           vocabulary_size=100, locked_towers=("image",))
    >>> lit.locked_towers
    ('image',)
    >>> lit.compile()
    >>> before = lit.image_encoder.get_weights()
    >>> history = lit.fit(inputs, epochs=1, verbose=0)
    >>> all((a == b).all() for a, b in zip(before, lit.image_encoder.get_weights()))
    True
    """

    def __init__(
        self,
        image_encoder,
        text_encoder,
        log_temperature_init=PAPER_LOG_TEMPERATURE_INIT,
        bias_init=PAPER_BIAS_INIT,
        locked_towers=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "siglip")
        super().__init__(**kwargs)
        image_dim = image_encoder.output_shape[-1]
        text_dim = text_encoder.output_shape[-1]
        if image_dim != text_dim:
            raise ValueError(
                "The towers must embed into the same space: `image_encoder` outputs "
                f"{image_dim} features but `text_encoder` outputs {text_dim}. Set the "
                "text encoder's `embedding_dim` to the image width."
            )
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.log_temperature_init = float(log_temperature_init)
        self.bias_init = float(bias_init)
        self.log_temperature = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.log_temperature_init),
            dtype="float32",
            name="log_temperature",
        )
        self.bias = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.bias_init),
            dtype="float32",
            name="bias",
        )
        self.contrastive_loss = losses_module.SigmoidLoss()
        self.towers_without_decay = ()
        if locked_towers is not None:
            self.locked_towers = locked_towers
        self.built = True

    # --- Tower properties -------------------------------------------------------

    @property
    def image_size(self):
        return self.image_encoder.input_shape[1]

    @property
    def sequence_length(self):
        return self.text_encoder.input_shape[1]

    @property
    def vocabulary_size(self):
        return self.text_encoder.vocabulary_size

    @property
    def embedding_dim(self):
        return self.image_encoder.output_shape[-1]

    @property
    def locked_towers(self):
        """The locked towers, `"image"` and/or `"text"`: those not `trainable`.

        Setting it locks the towers named and unlocks the other; a locked tower's
        weights do not train and it runs in inference mode. Set it before
        `compile` (like `trainable`, a change takes effect at the next `compile`),
        e.g. on a model loaded from a preset directory:
        `model.locked_towers = ("image",)`.
        """
        return tuple(name for name in TOWERS if not self._tower(name).trainable)

    @locked_towers.setter
    def locked_towers(self, towers):
        towers = check_tower_names("locked_towers", towers)
        for name in TOWERS:
            # Through the property itself: TensorFlow's attribute tracking skips
            # `tower.trainable = value` when `trainable` already has that value,
            # which a tower deserialised with `trainable=False` has without its
            # layers being frozen.
            keras.layers.Layer.trainable.fset(self._tower(name), name not in towers)

    def _tower(self, name):
        return self.image_encoder if name == "image" else self.text_encoder

    # --- Encoding ---------------------------------------------------------------

    def encode_images(self, images, training=False):
        """L2-normalised float32 embeddings of channels-last images in [-1, 1]."""
        check_images(images, self.image_size)
        training = _tower_training(self.image_encoder, training)
        return l2_normalize(self.image_encoder(images, training=training))

    def encode_texts(self, token_ids, training=False):
        """L2-normalised float32 embeddings of `(batch, sequence_length)` token ids."""
        check_token_ids(token_ids, self.sequence_length, self.vocabulary_size)
        training = _tower_training(self.text_encoder, training)
        return l2_normalize(self.text_encoder(token_ids, training=training))

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict) or not {"images", "token_ids"} <= set(inputs):
            given = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(
                f"`inputs` must be a dict with keys 'images' and 'token_ids'; got {given}."
            )
        images, token_ids = inputs["images"], inputs["token_ids"]
        num_images = images.shape[0]
        # Any number of images against any number of texts (one image, many
        # prompts is the usual inference call); only the loss needs pairs.
        image_embeddings = self.encode_images(images, training=training)
        text_embeddings = self.encode_texts(token_ids, training=training)
        if training and (self.loss_chunk_size(num_images) is not None or self._loss_uses_ring()):
            return {"image_embeddings": image_embeddings, "text_embeddings": text_embeddings}
        return pairwise_logits(image_embeddings, text_embeddings, self.log_temperature, self.bias)

    # --- Training ---------------------------------------------------------------

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The contrastive loss of what `call` already computed, plus `self.losses`.

        `y_pred` is either the logits, or, from `call(..., training=True)` at a
        batch that uses the chunked loss or under a multi-device distribution on
        JAX (the ring loss), the dict of both embeddings, whose sigmoid loss is
        computed in tiles of `loss_chunk_size(batch_size)` pairs.
        """
        pair = (
            (y_pred["image_embeddings"], y_pred["text_embeddings"])
            if isinstance(y_pred, dict)
            else (y_pred, ops.transpose(y_pred))
        )
        check_batches(
            *(static_batch_size(tensor) for tensor in pair),
            loss="The loss (computed in `compute_loss` from what `call` returned)",
        )
        if isinstance(y_pred, dict):
            image_embeddings = y_pred["image_embeddings"]
            loss = losses_module.sigmoid_loss(
                image_embeddings,
                y_pred["text_embeddings"],
                self.log_temperature,
                self.bias,
                chunk_size=self.loss_chunk_size(image_embeddings.shape[0]),
                ring=self.contrastive_loss.ring,
                bidirectional=self.contrastive_loss.bidirectional,
            )
        else:
            loss = self.contrastive_loss.from_logits(y_pred)
        if self.losses:
            loss = loss + ops.sum([ops.cast(extra, "float32") for extra in self.losses])
        return loss

    # --- Checked steps ----------------------------------------------------------

    def fit(self, x=None, *args, **kwargs):
        check_paired_inputs(x, "fit")
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        check_paired_inputs(x, "evaluate")
        return super().evaluate(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        check_paired_inputs(x, "predict")
        return super().predict(x, *args, **kwargs)

    def make_train_function(self, force=False):
        """Keras' train function, checking each batch's token ids before the step.

        A compiled step cannot raise on an out-of-range id (on JAX it turns every
        weight into NaN, XLA on TensorFlow clamps it), so each batch is checked on
        the host before it reaches the step, by
        `keras_siglip.validation.check_batches_before_steps`; `evaluate` and `predict`
        are checked the same way. A refused batch raises a `ValueError` naming
        `token_ids`, the range of ids found and the vocabulary size, with the
        weights as they were before that batch.
        """
        super().make_train_function(force)
        self.train_function = self._checked_steps(
            self.train_function,
            lambda: (
                self.trainable_variables,
                self.non_trainable_variables,
                self.optimizer.variables,
                self.metrics_variables,
            ),
        )
        return self.train_function

    def make_test_function(self, force=False):
        super().make_test_function(force)
        self.test_function = self._checked_steps(
            self.test_function,
            lambda: (
                self.trainable_variables,
                self.non_trainable_variables,
                self.metrics_variables,
            ),
        )
        return self.test_function

    def make_predict_function(self, force=False):
        super().make_predict_function(force)
        self.predict_function = self._checked_steps(
            self.predict_function,
            lambda: (self.trainable_variables, self.non_trainable_variables),
        )
        return self.predict_function

    def _checked_steps(self, function, state_variables):
        if getattr(function, "checks_batches", False):
            return function

        def check_batch(batch):
            x, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
            if isinstance(x, dict) and "token_ids" in x:
                check_token_id_values(x["token_ids"], self.vocabulary_size)

        def restore(state):
            # JAX's state: one list of values per group of `state_variables()`.
            for variables, values in zip(state_variables(), state):
                for variable, value in zip(variables, values):
                    variable.assign(value)

        return check_batches_before_steps(function, check_batch, self.steps_per_execution, restore)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with what `call` returned.

        Keras would split the dict of embeddings that `call` returns for a
        chunked-loss batch into two outputs, one per metric; each metric receives
        the pair whole instead, as an `EmbeddingPair`, which
        `keras_siglip.evaluation.RetrievalRecall` ranks without forming the logits.
        """
        if isinstance(y_pred, dict):
            y_pred = EmbeddingPair(y_pred["image_embeddings"], y_pred["text_embeddings"])
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def loss_chunk_size(self, batch_size):
        """Tile size of the chunked loss that training uses at this batch size.

        `None` means the dense loss: for losses other than the sigmoid loss, and for
        a sigmoid loss without `chunk_size` at a batch smaller than
        `CHUNKED_LOSS_BATCH_SIZE`. A `batch_size` of `None` (unknown while
        tracing) counts as large.
        """
        loss = self.contrastive_loss
        if not isinstance(loss, losses_module.SigmoidLoss):
            return None
        if loss.chunk_size is not None:
            return loss.chunk_size
        if batch_size is None or batch_size >= CHUNKED_LOSS_BATCH_SIZE:
            return losses_module.DEFAULT_CHUNK_SIZE
        return None

    def _loss_uses_ring(self):
        loss = self.contrastive_loss
        return isinstance(loss, losses_module.SigmoidLoss) and loss.uses_ring()

    # --- Construction and serialisation ----------------------------------------

    @classmethod
    def from_variant(
        cls,
        variant,
        image_size,
        sequence_length,
        vocabulary_size,
        dtype=None,
        dropout=0.0,
        **kwargs,
    ):
        """Build a model from a variant string such as `"B/16"` or `"Nano/8"`.

        Args:
            variant: `"NAME/PATCH"`; see `keras_siglip.towers.VARIANTS`.
            image_size: side of the square input images.
            sequence_length: fixed text length.
            vocabulary_size: number of token ids.
            dtype: dtype policy of both towers, e.g. `"mixed_bfloat16"`.
            dropout: dropout rate inside both towers.
            **kwargs: `log_temperature_init`, `bias_init`, `locked_towers`, `name`.
        """
        sizes = decode_variant(variant)
        image_encoder = ImageEncoder(
            image_size=image_size,
            patch_size=sizes["patch_size"],
            dropout=dropout,
            dtype=dtype,
            **sizes["image"],
        )
        text_encoder = TextEncoder(
            vocabulary_size=vocabulary_size,
            sequence_length=sequence_length,
            embedding_dim=sizes["image"]["hidden_dim"],
            dropout=dropout,
            dtype=dtype,
            **sizes["text"],
        )
        return cls(image_encoder, text_encoder, **kwargs)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """Build a model from a builtin preset name or a preset directory.

        Args:
            preset: a name from `keras_siglip.list_presets()`, or a directory written
                by `save_to_preset` (and by `keras-siglip train`).
            load_weights: load the preset's weights; `False` builds the architecture
                with the paper's initialisation.
            **kwargs: `SigLIP.from_variant` arguments overriding the preset's
                (`image_size`, `dtype`, ...).

        The loaders live in `keras_siglip.presets`, which sits above the model (it
        builds models through the converters); this method reaches them through
        `keras_siglip.preset_hooks`, where that package registers them on import.

        Example:

        >>> model = SigLIP.from_preset("siglip_base_patch16_224", load_weights=False)
        >>> model.count_params()
        203155970
        """
        return preset_hooks.load_model(cls, preset, load_weights=load_weights, **kwargs)

    def save_to_preset(
        self, path, preprocessor=None, description=None, metadata=None, allow_non_finite=False
    ):
        """Save the model (and its preprocessor) as a preset directory.

        `SigLIP.from_preset(path)` loads it back, and
        `SigLIPPreprocessor.from_preset(path)` its preprocessing.

        Args:
            path: the directory to write (`config.json`, `metadata.json`,
                `model.weights.h5`, and the preprocessor's files).
            preprocessor: a `keras_siglip.preprocessing.SigLIPPreprocessor` matching
                the model's image size and text length, or `None`.
            description: one line saying what the preset is.
            metadata: extra JSON-serialisable facts (training data, metrics).
            allow_non_finite: save even if a weight holds NaN or infinity. By
                default such a model (a diverged run) is refused with a
                `ValueError` naming the variables, so it never replaces a good
                preset.

        The writing is `keras_siglip.presets.directory.save_to_preset`, reached
        through `keras_siglip.preset_hooks` as in `from_preset`.
        """
        preset_hooks.save_model(
            self, path, preprocessor, description, metadata, allow_non_finite=allow_non_finite
        )

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "image_encoder": keras.saving.serialize_keras_object(self.image_encoder),
            "text_encoder": keras.saving.serialize_keras_object(self.text_encoder),
            "log_temperature_init": self.log_temperature_init,
            "bias_init": self.bias_init,
            "locked_towers": list(self.locked_towers),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("image_encoder", "text_encoder"):
            if isinstance(config[key], dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


class EmbeddingPair:
    """A batch's image and text embeddings, one output to Keras' metric plumbing.

    A plain object, so `keras.tree` takes it for a leaf where it would take a dict
    for two outputs.
    """

    def __init__(self, image_embeddings, text_embeddings):
        self.image_embeddings = image_embeddings
        self.text_embeddings = text_embeddings


def _tower_training(tower, training):
    """A locked tower runs in inference mode, as LiT's frozen tower does."""
    return training if tower.trainable else False


def build_siglip(config, dtype=None):
    """A `SigLIP` from `{"image_encoder": {...}, "text_encoder": {...}}` constructor
    arguments of `ImageEncoder` and `TextEncoder` (what the converters read from a
    checkpoint's configuration).

    Args:
        config: the two towers' constructor arguments (no `dtype`).
        dtype: dtype policy of both towers; `None` is Keras' global policy.

    Returns:
        A built `SigLIP` with freshly initialised weights.
    """
    image_encoder = ImageEncoder(**config["image_encoder"], dtype=dtype)
    text_encoder = TextEncoder(**config["text_encoder"], dtype=dtype)
    return SigLIP(image_encoder, text_encoder)
