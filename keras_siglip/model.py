"""`SigLIP`: two towers, a learnable temperature and bias, and the sigmoid loss."""

import math
import warnings

import keras
from keras import ops

from keras_siglip import losses as losses_module
from keras_siglip import optimizers, preset_hooks
from keras_siglip.distribution import check_model_distribution
from keras_siglip.losses.logits import (
    check_batches,
    l2_normalize,
    pairwise_logits,
    static_batch_size,
)
from keras_siglip.towers import ImageEncoder, TextEncoder, decode_variant
from keras_siglip.validation import (
    check_batches_before_steps,
    check_images,
    check_paired_inputs,
    check_token_id_values,
    check_token_ids,
)

PAPER_LOG_TEMPERATURE_INIT = math.log(10.0)
PAPER_BIAS_INIT = -10.0
# From this batch size on, training uses the chunked sigmoid loss unless the loss
# sets its own `chunk_size`: here the dense loss's B x B float32 buffers (logits,
# their gradient, temporaries: 0.75 to 1 GiB) outgrow everything else the loss holds,
# and the chunked loss is at least as fast (benchmarks/loss.py).
CHUNKED_LOSS_BATCH_SIZE = 8192
# Names of the towers in `locked_towers` and `compile(towers_without_decay=...)`.
TOWERS = ("image", "text")


@keras.saving.register_keras_serializable(package="keras_siglip")
class SigLIP(keras.Model):
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
        towers = _check_tower_names("locked_towers", towers)
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
                "`inputs` must be a dict with keys 'images' and 'token_ids'; got "
                f"{given}."
            )
        images, token_ids = inputs["images"], inputs["token_ids"]
        num_images = images.shape[0]
        # Any number of images against any number of texts (one image, many
        # prompts is the usual inference call); only the loss needs pairs.
        image_embeddings = self.encode_images(images, training=training)
        text_embeddings = self.encode_texts(token_ids, training=training)
        if training and (
            self.loss_chunk_size(num_images) is not None or self._loss_uses_ring()
        ):
            return {"image_embeddings": image_embeddings, "text_embeddings": text_embeddings}
        return pairwise_logits(
            image_embeddings, text_embeddings, self.log_temperature, self.bias
        )

    # --- Serving ----------------------------------------------------------------

    def serving_signature(self):
        """The inputs `call` takes, as `keras.InputSpec`s: `images` `(None, size, size,
        3)` float32 in `[-1, 1]` and `token_ids` `(None, sequence_length)` int32,
        each with its own free batch size (any images against any texts)."""
        size = self.image_size
        return {
            "images": keras.InputSpec(shape=(None, size, size, 3), dtype="float32"),
            "token_ids": keras.InputSpec(shape=(None, self.sequence_length), dtype="int32"),
        }

    def export(
        self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs
    ):
        """Export the model for inference, e.g. as a TensorFlow SavedModel.

        As `keras.Model.export`, except that without `input_signature` the model's
        fixed image size and text length give it (`serving_signature()`), so a
        model straight from `from_preset` or `from_variant` exports without being
        called first. The served function takes `{"images", "token_ids"}` and
        returns the `(num_images, num_texts)` logits, as `model(inputs)` does.

        On PyTorch, Keras' SavedModel export takes no dict of inputs: export with
        the TensorFlow or JAX backend (a ValueError says so).

        Example (TensorFlow or JAX backend):

            model.export("served")
            logits = tf.saved_model.load("served").serve(
                {"images": images, "token_ids": token_ids})
        """
        if format == "tf_saved_model" and keras.backend.backend() == "torch":
            raise ValueError(
                "`export(format='tf_saved_model')` needs the TensorFlow or JAX backend for "
                "SigLIP: Keras' SavedModel export on PyTorch takes no dict of inputs. Run "
                "the export with KERAS_BACKEND=tensorflow (or jax); the weights load on any "
                "backend."
            )
        if input_signature is None:
            # A subclassed model gives Keras no input shapes until it has been
            # called; the towers' fixed sizes say them.
            input_signature = [self.serving_signature()]
            if format == "tf_saved_model" and keras.backend.backend() == "jax":
                # Keras names every free batch size "batch" for jax2tf, which
                # would tie the number of images to the number of texts.
                jax2tf_kwargs = dict(kwargs.pop("jax2tf_kwargs", None) or {})
                jax2tf_kwargs.setdefault("polymorphic_shapes", [self._polymorphic_shapes()])
                kwargs["jax2tf_kwargs"] = jax2tf_kwargs
        return super().export(
            filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs
        )

    def _polymorphic_shapes(self):
        size, length = self.image_size, self.sequence_length
        return {
            "images": f"(num_images, {size}, {size}, 3)",
            "token_ids": f"(num_texts, {length})",
        }

    # --- Training ---------------------------------------------------------------

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
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
            lambda: (self.trainable_variables, self.non_trainable_variables, self.metrics_variables),
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

        return check_batches_before_steps(
            function, check_batch, self.steps_per_execution, restore
        )

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

    def compile(
        self,
        optimizer=None,
        loss="sigmoid",
        *,
        learning_rate=1e-3,
        weight_decay=1e-4,
        warmup_steps=0,
        decay_steps=None,
        gradient_clip_norm=1.0,
        towers_without_decay=(),
        temperature_and_bias_learning_rate_multiplier=1.0,
        **kwargs,
    ):
        """Configure training with the paper's defaults.

        With `optimizer=None` the optimizer is `keras_siglip.optimizers.AdamW`
        (Keras' AdamW, whose update is one fused kernel on PyTorch; beta_2 0.95,
        global gradient clipping at `gradient_clip_norm`), with a linear warm-up and cosine decay when
        `decay_steps` is given. Weight decay is decoupled from the learning rate, as
        in big_vision: each step shrinks a kernel by `weight_decay` times the
        schedule's fraction of the peak rate (Keras' AdamW multiplies its decay by
        the learning rate, so it receives `weight_decay / learning_rate`). Only
        kernels (Dense and Conv weights) decay: biases, norms, embeddings, the
        probe, `log_temperature` and `bias` do not, nor does anything in the towers
        named in `towers_without_decay` (`variables_without_decay()` lists what is
        excluded). The same mask is applied to an optimizer you pass. When a tower
        computes in float16 (`dtype="mixed_float16"`), the optimizer is wrapped in
        `keras.optimizers.LossScaleOptimizer` (unless it is one already), so that
        the towers' gradients, scaled up by the temperature, do not overflow.

        Args:
            optimizer: `None` for the defaults above, or a Keras optimizer.
            loss: `"sigmoid"` (the paper's), `"softmax"` (CLIP's) or an object with
                `from_logits(logits)`, such as `keras_siglip.losses.SigmoidLoss()`;
                `SigmoidLoss(chunk_size=N)` trains through the chunked loss at every
                batch size (see the class docstring for the automatic switch).
            learning_rate: peak learning rate (float).
            weight_decay: decoupled weight decay per step at the peak rate.
            warmup_steps: linear warm-up steps (only with `decay_steps`).
            decay_steps: steps of cosine decay after warm-up; `None` keeps the
                rate constant.
            gradient_clip_norm: global gradient-norm clip; `None` disables it.
            towers_without_decay: towers none of whose variables decay, a tuple of
                `"image"` and/or `"text"`: a pretrained tower you fine-tune rather
                than lock (LiT found decay towards zero hurts a pretrained tower).
                A locked tower does not train, so naming it changes nothing.
            temperature_and_bias_learning_rate_multiplier: factor on the learning
                rate of `log_temperature` and `bias` (default optimizer only). Adam
                moves each by about the learning rate per step, so in a run of a few
                thousand steps they stay near the paper's initialisation (the
                temperature moves by a factor of at most about
                `exp(learning_rate * steps)`); a larger factor lets them adapt.
                The paper's setting is 1; in the main job (`keras-siglip train`,
                1,800 steps) 10 let the temperature reach about 20 instead of 13,
                with held-out retrieval within the seed-to-seed spread (docs/main_job.md).
            **kwargs: passed to `keras.Model.compile` (`metrics`, `jit_compile`,
                `steps_per_execution`, ...). `jit_compile="auto"` (the default)
                means XLA on JAX and TensorFlow and eager on PyTorch; unlike
                Keras' "auto", it keeps XLA for TensorFlow on a machine without an
                accelerator, where it trains SigLIP faster than TensorFlow's graph
                (`benchmarks/train_step.py`).

        Example: fine-tune a pretrained text tower without decay, train the image
        tower from scratch with it.

        >>> model = SigLIP.from_variant("Pico/8", image_size=32, sequence_length=8,
        ...                             vocabulary_size=100)
        >>> model.compile(towers_without_decay=("text",))
        >>> excluded = {id(v) for v in model.variables_without_decay()}
        >>> all(id(v) in excluded for v in model.text_encoder.trainable_variables)
        True
        >>> sorted({v.path.split("/")[-1] for v in model.image_encoder.trainable_variables
        ...         if id(v) not in excluded})
        ['kernel']
        """
        self.towers_without_decay = _check_tower_names(
            "towers_without_decay", towers_without_decay
        )
        # A dead layout rule or a model built outside the scope fails here, not
        # as an out-of-memory error or a device mismatch inside `fit`.
        check_model_distribution(self)
        self.contrastive_loss = losses_module.get("sigmoid" if loss is None else loss)
        if optimizer is None:
            if len(self.variables_without_decay()) == len(self.trainable_variables):
                # Nothing decays (a locked tower and a pretrained one without decay).
                weight_decay = 0.0
            optimizer = optimizers.default_optimizer(
                learning_rate, weight_decay, warmup_steps, decay_steps, gradient_clip_norm
            )
            multiplier = temperature_and_bias_learning_rate_multiplier
            if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)) or multiplier <= 0:
                raise ValueError(
                    "`temperature_and_bias_learning_rate_multiplier` must be a positive "
                    f"number, got {multiplier!r}."
                )
            if multiplier != 1:
                optimizer.learning_rate_multipliers = {
                    self.log_temperature.path: float(multiplier),
                    self.bias.path: float(multiplier),
                }
        else:
            if temperature_and_bias_learning_rate_multiplier != 1:
                raise ValueError(
                    "`temperature_and_bias_learning_rate_multiplier` applies to the default "
                    "optimizer; with your own `optimizer`, pass `learning_rate_multipliers` "
                    "to `keras_siglip.optimizers.AdamW` (keys: `model.log_temperature.path`, "
                    f"`model.bias.path`). Got {temperature_and_bias_learning_rate_multiplier!r}."
                )
            optimizer = keras.optimizers.get(optimizer)
        if getattr(optimizer, "weight_decay", None) and not optimizer.built:
            optimizer.exclude_from_weight_decay(var_list=self.variables_without_decay())
        if self._needs_loss_scaling() and not isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer
        ):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        super().compile(optimizer=optimizer, **kwargs)
        if kwargs.get("jit_compile", "auto") == "auto" and keras.backend.backend() == "tensorflow":
            # Keras' "auto" turns XLA off for TensorFlow on a machine without an
            # accelerator; for SigLIP's towers XLA is the faster step there too.
            # Where Keras finds the model unsupported (e.g. op determinism is on),
            # the setter falls back to False; "auto" does that silently.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Model doesn't support `jit_compile")
                self.jit_compile = not self.run_eagerly

    def _needs_loss_scaling(self):
        """Whether a tower computes in float16, whose gradients overflow unscaled.

        The logits and the loss are float32, but their gradient reaches the towers
        multiplied by the temperature (`exp(log_temperature)`, up to about 5e8 at
        20), past float16's largest value (65,504). Loss scaling multiplies the loss
        by a factor it halves whenever the gradients overflow (skipping that step)
        and divides the gradients by it before the update. bfloat16 has float32's
        range and needs none.
        """
        # A functional tower keeps its policy on its layers, not on itself.
        return any(
            layer.compute_dtype == "float16"
            for tower in (self.image_encoder, self.text_encoder)
            for layer in [tower, *tower.layers]
        )

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

    def variables_without_decay(self):
        """Trainable variables that weight decay must not touch.

        All but kernels (Dense and Conv weights), and every trainable variable of
        the towers named in `compile(towers_without_decay=...)`.
        """
        exempt = {
            id(variable)
            for name in self.towers_without_decay
            for variable in self._tower(name).trainable_variables
        }
        return [
            variable
            for variable in self.trainable_variables
            if id(variable) in exempt or variable.path.split("/")[-1] != "kernel"
        ]

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

    def get_compile_config(self):
        config = super().get_compile_config()
        # Keras gives {} for a model never compiled: then there is nothing to restore.
        if config:
            config["loss"] = keras.saving.serialize_keras_object(self.contrastive_loss)
            config["towers_without_decay"] = list(self.towers_without_decay)
        return config

    def compile_from_config(self, config):
        config = dict(config)
        loss = keras.saving.deserialize_keras_object(config.pop("loss", None))
        optimizer = keras.saving.deserialize_keras_object(config.pop("optimizer", None))
        towers_without_decay = config.pop("towers_without_decay", ())
        # Metric objects come serialised, like the loss and the optimizer.
        kwargs = keras.saving.deserialize_keras_object(_known_compile_kwargs(config))
        self.compile(
            optimizer=optimizer, loss=loss, towers_without_decay=towers_without_decay, **kwargs
        )
        if self.built and self.optimizer is not None:
            self.optimizer.build(self.trainable_variables)


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


def _check_tower_names(argument, towers):
    """`towers` as a tuple in `TOWERS` order, after checking the names."""
    if isinstance(towers, str) or not isinstance(towers, (tuple, list)):
        raise ValueError(
            f"`{argument}` must be a tuple of tower names from {TOWERS}, e.g. "
            f"('image',); got {towers!r}."
        )
    unknown = [name for name in towers if name not in TOWERS]
    if unknown:
        raise ValueError(
            f"`{argument}` names unknown towers {unknown}; the towers are {TOWERS}."
        )
    return tuple(name for name in TOWERS if name in towers)


def _known_compile_kwargs(config):
    keys = ("metrics", "weighted_metrics", "run_eagerly", "steps_per_execution", "jit_compile")
    return {key: config[key] for key in keys if key in config and config[key] is not None}


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
