"""`SigLIP.compile`: the paper's optimizer, the weight-decay mask and loss scaling.

Also what a saved model needs to compile again as it was (`get_compile_config`,
`compile_from_config`).
"""

import warnings

import keras

from keras_siglip import losses as losses_module
from keras_siglip import optimizers
from keras_siglip.distribution import check_model_distribution
from keras_siglip.validation import check_tower_names


class CompileMixin:
    """`compile` and its configuration for `keras_siglip.model.SigLIP`.

    Mixed into `SigLIP` ahead of `keras.Model`, whose `compile` it wraps. It reads
    the model's towers (`image_encoder`, `text_encoder`, `_tower(name)`),
    `log_temperature` and `bias`, and sets `contrastive_loss` and
    `towers_without_decay`.
    """

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
        global gradient clipping at `gradient_clip_norm`), with a linear warm-up
        and cosine decay when `decay_steps` is given. Weight decay is decoupled
        from the learning rate, as in big_vision: each step shrinks a kernel by
        `weight_decay` times the schedule's fraction of the peak rate (Keras' AdamW
        multiplies its decay by the learning rate, so it receives
        `weight_decay / learning_rate`). Only
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

        >>> from keras_siglip.model import SigLIP
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
        self.towers_without_decay = check_tower_names("towers_without_decay", towers_without_decay)
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
            if (
                isinstance(multiplier, bool)
                or not isinstance(multiplier, (int, float))
                or multiplier <= 0
            ):
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
        kwargs = keras.saving.deserialize_keras_object(known_compile_kwargs(config))
        self.compile(
            optimizer=optimizer, loss=loss, towers_without_decay=towers_without_decay, **kwargs
        )
        if self.built and self.optimizer is not None:
            self.optimizer.build(self.trainable_variables)


def known_compile_kwargs(config):
    keys = ("metrics", "weighted_metrics", "run_eagerly", "steps_per_execution", "jit_compile")
    return {key: config[key] for key in keys if key in config and config[key] is not None}
