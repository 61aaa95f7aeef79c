"""A Dense layer whose token-wise matmul is always a plain two-dimensional product."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_siglip")
class TokenDense(keras.layers.Dense):
    """`keras.layers.Dense` applied to `(..., features)` inputs as one matrix product.

    The same weights, names and outputs as `Dense`; only the shape of the product
    differs. Inputs of rank above two are flattened to `(tokens, features)` before
    the matmul and the result is reshaped back. The gradient of the kernel is then
    `inputs^T @ output_gradient` over all tokens at once; taken on the
    `(batch, length, features)` input directly, XLA on the CPU contracts two axes
    in a slower loop: a Nano-sized layer (`(128, 16, 128) @ (128, 512)`) took 11.4 ms
    for forward and kernel gradient against 4.6 ms flattened on two cores.
    """

    def call(self, inputs, training=None):
        if len(inputs.shape) <= 2:
            return super().call(inputs, training=training)
        leading = ops.shape(inputs)[:-1]
        flat = ops.reshape(inputs, (-1, inputs.shape[-1]))
        outputs = super().call(flat, training=training)
        return ops.reshape(outputs, (*leading, self.units))
