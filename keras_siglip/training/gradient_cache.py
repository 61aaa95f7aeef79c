"""SigLiT at batches far larger than the text tower holds at once: gradient caching.

SigLiT trains the text tower against a frozen image tower, whose embeddings can be
computed once and cached (`cache_image_embeddings`); the paper trains it at batches
up to one million. The sigmoid loss couples every text with every image, so the
loss batch `B` cannot simply be split into independent micro-batches; the text
tower's activations for all of `B` at once, though, do not fit. Gradient caching
(Gao et al., 2021, "Scaling Deep Contrastive Learning Batch Size under Memory
Limited Setup") splits the step at the embeddings instead:

1. Embed the `B` texts, `micro_batch_size` at a time, without autodiff: only the
   `(B, dim)` L2-normalised embeddings are kept.
2. Compute the loss over all `B x B` pairs and its gradient with respect to the
   text embeddings, the log-temperature and the bias: the chunked sigmoid loss
   (`chunk_size`) never holds the `B x B` logits and computes that gradient in
   closed form, in the same sweep of tiles as the value.
3. For each micro-batch again: run the tower forward with autodiff and
   back-propagate the slice of the embedding gradient (a vector-Jacobian product,
   through the L2 normalisation), adding up the tower's gradients.
4. Apply the optimizer to the text tower, the log-temperature and the bias.

The gradients are those of the loss over the whole batch (the sum of the
micro-batches' vector-Jacobian products is the chain rule through the batch's
embeddings), to float32 round-off, for any `micro_batch_size`. Memory: one
micro-batch's activations, `O(B * dim)` for the embeddings and their gradient, a few
`chunk_size x chunk_size` tiles, and one set of gradients of the tower's size.
Compute: one extra forward pass of the tower (step 3 repeats step 1's).

Random layers (dropout) draw the same masks in step 3 as in step 1: the random
state the tower draws from (its seeds) is put back to what it was before step 1.
"""

import numbers

import keras
import numpy as np
from keras import ops

from keras_siglip.losses import DEFAULT_CHUNK_SIZE, sigmoid_loss
from keras_siglip.losses.chunked import check_chunk_size
from keras_siglip.model import PAPER_BIAS_INIT, PAPER_LOG_TEMPERATURE_INIT
from keras_siglip.optimizers import default_optimizer
from keras_siglip.training import backend_autodiff
from keras_siglip.validation import concrete_values


class GradientCachedSigLiT:
    """Trains a text tower against cached image embeddings at any batch size.

    One step (`train_on_batch`) takes `B` texts and the cached embeddings of their
    `B` images and applies the gradient of the sigmoid loss over all `B x B` pairs,
    while the text tower never runs on more than `micro_batch_size` texts at once
    and the loss never holds more than `chunk_size x chunk_size` pairs (see the
    module docstring for the algorithm and its costs).

    Args:
        model: a `SigLIP` model, whose `text_encoder`, `log_temperature` and
            `bias` are trained (its image tower is left alone), or a text tower
            alone (a `TextEncoder`, or any built Keras model mapping `(batch,
            sequence_length)` token ids to `(batch, dim)`), for which the
            log-temperature and the bias are created here.
        optimizer: a Keras optimizer (or its name); `None` for `SigLIP.compile`'s
            default (AdamW, learning rate 1e-3, decoupled weight decay 1e-4,
            gradient clipping at norm 1). Weight decay, if the optimizer has it, is
            kept off the variables of a SigLIP model's `variables_without_decay`
            (for a text tower alone: off everything but kernels, the same rule).
        micro_batch_size: texts the tower embeds, and back-propagates through, at
            once; it need not divide the batch size. Sets the tower's memory.
        chunk_size: tile size of the chunked sigmoid loss (see `sigmoid_loss`);
            `None` for the dense loss, which holds all `B x B` logits.
        training: the `training` flag of the tower's calls (dropout).
        log_temperature_init: initial log-temperature when `model` is a text
            tower; the paper's `log(10)` by default.
        bias_init: initial bias when `model` is a text tower; the paper's -10 by
            default.

    Attributes:
        text_encoder, log_temperature, bias, optimizer: what is trained, and how.
        trainable_variables: the text tower's trainable variables, then
            `log_temperature` and `bias`; `compute_gradients` returns gradients in
            this order.

    Example:

    >>> import numpy as np
    >>> from keras_siglip import TextEncoder
    >>> from keras_siglip.training import GradientCachedSigLiT
    >>> text_encoder = TextEncoder(vocabulary_size=100, sequence_length=8,
    ...                            hidden_dim=16, num_layers=1, num_heads=2,
    ...                            intermediate_dim=32)
    >>> rng = np.random.default_rng(0)
    >>> token_ids = rng.integers(0, 100, size=(200, 8)).astype("int32")
    >>> image_embeddings = rng.normal(size=(200, 16)).astype("float32")
    >>> image_embeddings /= np.linalg.norm(image_embeddings, axis=1, keepdims=True)
    >>> trainer = GradientCachedSigLiT(text_encoder, micro_batch_size=64,
    ...                                chunk_size=128)
    >>> curve = [trainer.train_on_batch(token_ids, image_embeddings)
    ...           for _ in range(3)]
    >>> curve[-1] < curve[0]
    True
    """

    def __init__(
        self,
        model,
        optimizer=None,
        micro_batch_size=256,
        chunk_size=DEFAULT_CHUNK_SIZE,
        training=True,
        log_temperature_init=None,
        bias_init=None,
    ):
        self.micro_batch_size = _check_micro_batch_size(micro_batch_size)
        self.chunk_size = check_chunk_size(chunk_size)
        self.training = bool(training)
        if hasattr(model, "text_encoder"):
            if log_temperature_init is not None or bias_init is not None:
                raise ValueError(
                    "`log_temperature_init` and `bias_init` are for a text tower "
                    "alone; a SigLIP model brings its own `log_temperature` and "
                    f"`bias`. Got {log_temperature_init!r} and {bias_init!r}."
                )
            self.text_encoder = model.text_encoder
            self.log_temperature = model.log_temperature
            self.bias = model.bias
        else:
            self.text_encoder = model
            if log_temperature_init is None:
                log_temperature_init = PAPER_LOG_TEMPERATURE_INIT
            if bias_init is None:
                bias_init = PAPER_BIAS_INIT
            self.log_temperature = _scalar_variable(log_temperature_init, "log_temperature")
            self.bias = _scalar_variable(bias_init, "bias")
        if not self.text_encoder.trainable_variables:
            raise ValueError(
                "The text tower has no trainable variables: it is frozen "
                "(`trainable=False`) or not built. Gradient caching trains it."
            )
        self.optimizer = _optimizer(optimizer, model, self.trainable_variables)
        self._encode = backend_autodiff.encode_function(self.text_encoder, self.training)
        self._encode_vjp = backend_autodiff.encode_vjp_function(self.text_encoder, self.training)
        self._loss_and_gradients = backend_autodiff.value_and_gradients_function(self._loss)

    @property
    def trainable_variables(self):
        return self.text_encoder.trainable_variables + [self.log_temperature, self.bias]

    def train_on_batch(self, token_ids, image_embeddings):
        """One optimizer step on a batch; returns its loss (before the step) as a float.

        Args:
            token_ids: `(batch_size, sequence_length)` integer token ids.
            image_embeddings: `(batch_size, dim)` L2-normalised embeddings of the
                paired images (text `i` is the positive of image `i`), for example
                rows of `cache_image_embeddings`. They are not normalised again.
        """
        loss, gradients = self.compute_gradients(token_ids, image_embeddings)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return float(ops.convert_to_numpy(loss))

    def compute_gradients(self, token_ids, image_embeddings):
        """The loss over the whole batch and its gradients, without applying them.

        Same arguments as `train_on_batch`. Returns `(loss, gradients)`: the scalar
        loss and one gradient per entry of `trainable_variables`.
        """
        token_ids, image_embeddings = self._check_inputs(token_ids, image_embeddings)
        batch_size = token_ids.shape[0]
        micro_batch_size = min(self.micro_batch_size, batch_size)
        # A short last micro-batch is padded to the others' size with copies of the
        # last text, whose embedding gradient is set to zero: on JAX, every new
        # shape compiles the tower's passes again.
        padding = -batch_size % micro_batch_size
        if padding:
            token_ids = ops.concatenate(
                [token_ids, ops.repeat(token_ids[-1:], padding, axis=0)], axis=0
            )
        micro_batches = [
            slice(start, start + micro_batch_size)
            for start in range(0, batch_size + padding, micro_batch_size)
        ]
        restore_random_state = backend_autodiff.save_random_state(self.text_encoder)
        text_embeddings = ops.concatenate(
            [self._encode(token_ids[rows]) for rows in micro_batches], axis=0
        )
        loss, gradients = self._loss_and_gradients(
            image_embeddings,
            text_embeddings[:batch_size],
            ops.convert_to_tensor(self.log_temperature),
            ops.convert_to_tensor(self.bias),
        )
        _, text_gradients, log_temperature_gradient, bias_gradient = gradients
        if padding:
            text_gradients = ops.pad(text_gradients, [[0, padding], [0, 0]])
        restore_random_state()
        tower_gradients = None
        for rows in micro_batches:
            micro_batch_gradients = self._encode_vjp(token_ids[rows], text_gradients[rows])
            if tower_gradients is None:
                tower_gradients = micro_batch_gradients
            else:
                tower_gradients = [
                    total + gradient
                    for total, gradient in zip(tower_gradients, micro_batch_gradients)
                ]
        return loss, [*tower_gradients, log_temperature_gradient, bias_gradient]

    def _loss(self, image_embeddings, text_embeddings, log_temperature, bias):
        return sigmoid_loss(
            image_embeddings, text_embeddings, log_temperature, bias, chunk_size=self.chunk_size
        )

    def _check_inputs(self, token_ids, image_embeddings):
        token_ids = ops.convert_to_tensor(token_ids)
        image_embeddings = ops.convert_to_tensor(image_embeddings)
        length = self.text_encoder.input_shape[1]
        dim = self.text_encoder.output_shape[-1]
        if len(token_ids.shape) != 2 or token_ids.shape[1] != length:
            raise ValueError(
                f"`token_ids` must have shape (batch_size, {length}), padded to the "
                f"text tower's fixed length; got shape {tuple(token_ids.shape)}."
            )
        if "int" not in keras.backend.standardize_dtype(token_ids.dtype):
            raise ValueError(f"`token_ids` must be integers; got dtype {token_ids.dtype}.")
        # An id outside the vocabulary would be clamped silently on JAX.
        vocabulary_size = getattr(self.text_encoder, "vocabulary_size", None)
        values = concrete_values(token_ids)
        if vocabulary_size is not None and values is not None and values.size:
            low, high = int(np.min(values)), int(np.max(values))
            if low < 0 or high >= vocabulary_size:
                raise ValueError(
                    f"`token_ids` must lie in [0, {vocabulary_size}) for this "
                    f"vocabulary; got values from {low} to {high}."
                )
        if len(image_embeddings.shape) != 2 or image_embeddings.shape[1] != dim:
            raise ValueError(
                f"`image_embeddings` must have shape (batch_size, {dim}), the text "
                f"tower's output size; got shape {tuple(image_embeddings.shape)}."
            )
        if image_embeddings.shape[0] != token_ids.shape[0]:
            raise ValueError(
                "The texts and the image embeddings must pair up one to one: got "
                f"{token_ids.shape[0]} texts and {image_embeddings.shape[0]} image "
                "embeddings."
            )
        if token_ids.shape[0] == 0:
            raise ValueError("The batch must hold at least one pair; got none.")
        return token_ids, ops.cast(image_embeddings, "float32")


def _check_micro_batch_size(micro_batch_size):
    if (
        isinstance(micro_batch_size, numbers.Integral)
        and not isinstance(micro_batch_size, bool)
        and micro_batch_size >= 1
    ):
        return int(micro_batch_size)
    raise ValueError(
        "`micro_batch_size` must be a positive integer, the number of texts the text "
        f"tower embeds and back-propagates through at once; got {micro_batch_size!r}."
    )


def _scalar_variable(value, name):
    return keras.Variable(float(value), dtype="float32", name=name)


def _optimizer(optimizer, model, variables):
    if optimizer is None:
        optimizer = default_optimizer(
            learning_rate=1e-3,
            weight_decay=1e-4,
            warmup_steps=0,
            decay_steps=None,
            gradient_clip_norm=1.0,
        )
    else:
        optimizer = keras.optimizers.get(optimizer)
    if getattr(optimizer, "weight_decay", None) and not optimizer.built:
        optimizer.exclude_from_weight_decay(var_list=_variables_without_decay(model, variables))
    return optimizer


def _variables_without_decay(model, variables):
    """A SigLIP model's own choice; for a tower alone, SigLIP's rule: all but kernels."""
    if hasattr(model, "variables_without_decay"):
        exempt = {id(variable) for variable in model.variables_without_decay()}
        return [variable for variable in variables if id(variable) in exempt]
    return [variable for variable in variables if variable.path.split("/")[-1] != "kernel"]
