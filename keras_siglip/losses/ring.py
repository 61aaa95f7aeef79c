"""The paper's multi-device sigmoid loss (section 3.1): a ring of devices on JAX.

Under a `keras.distribution` whose batch axis spans `D > 1` devices, each device
holds `b = B / D` images and their `b` texts. It computes its own `b x b` block
(the positives on its diagonal), then `D - 1` times passes the texts to its
neighbour (`jax.lax.ppermute`, a collective permute) and adds the block of its
images against the texts it received, all negatives. No device ever holds more
than `b` texts: no all-gather, per-device memory `O(b^2)` (or `O(chunk_size^2)`
with `chunk_size`, which tiles each block with the chunked loss's sweep).
`bidirectional=True` passes texts to both neighbours at once and needs half the
steps (open_clip's "bidir").

The gradient is computed in the same pass as the value, as in the chunked loss
(`custom_gradient.scalar_with_gradient`): each block adds its closed-form
gradients; the texts' gradient travels with the texts and one more permute
brings it back to the device that owns them. So the backward pass keeps only
the `O(b * dim)` gradients, not one block per step.

The loss is the sum over all `B x B` pairs divided by the global `B`: the same
value as the single-device loss.
"""

import functools

import keras
from keras import ops

from keras_siglip.losses.chunked import sweep
from keras_siglip.losses.custom_gradient import scalar_with_gradient
from keras_siglip.losses.logits import check_batches


def ring_mesh(ring=None):
    """The `(jax mesh, batch axis name)` the ring loss runs on, or `None`.

    Args:
        ring: `None` picks the ring when a `keras.distribution` is active on the
            JAX backend with more than one device on its batch axis, the dense
            or chunked single-device loss otherwise; `True` requires the ring,
            `False` never uses it.
    """
    if ring is not None and not isinstance(ring, bool):
        raise ValueError(f"`ring` must be None (automatic), True or False; got {ring!r}.")
    if ring is False:
        return None
    distribution = keras.distribution.distribution()
    size = 1
    if distribution is not None:
        mesh = distribution.device_mesh
        size = mesh.shape[list(mesh.axis_names).index(distribution.batch_dim_name)]
    if keras.backend.backend() != "jax" or size <= 1:
        if ring:
            raise ValueError(
                "`ring=True` needs the JAX backend and an active keras.distribution "
                "whose batch axis spans more than one device; got backend "
                f"{keras.backend.backend()!r} and distribution {distribution}."
            )
        return None
    return distribution.device_mesh.backend_mesh, distribution.batch_dim_name


def ring_sigmoid_loss(
    image_embeddings,
    text_embeddings,
    log_temperature,
    bias,
    mesh,
    axis_name,
    bidirectional=False,
    chunk_size=None,
):
    """The sigmoid loss over a ring of the devices on `mesh`'s `axis_name`.

    Usually reached through `sigmoid_loss`, which picks it under a distribution.

    Args:
        image_embeddings: `(B, dim)`, `B` a multiple of the ring's size; image
            `i` pairs with text `i`.
        text_embeddings: `(B, dim)`.
        log_temperature: scalar.
        bias: scalar.
        mesh: a `jax.sharding.Mesh`.
        axis_name: the mesh axis the batch is split over.
        bidirectional: pass texts both ways round the ring, in half the steps.
        chunk_size: `None` for dense `b x b` blocks, or the tile size within a
            block.

    Returns:
        Scalar float32 loss, differentiable (once) in all four arguments.
    """
    num_devices = mesh.shape[axis_name]
    batch_size = image_embeddings.shape[0]
    check_batches(batch_size, text_embeddings.shape[0], loss="The ring loss")
    if text_embeddings.shape[0] != batch_size or batch_size % num_devices:
        raise ValueError(
            f"The ring loss needs as many texts as images and a batch size divisible by "
            f"the {num_devices} devices of mesh axis {axis_name!r}; got "
            f"{batch_size} images and {text_embeddings.shape[0]} texts."
        )
    function = _loss_function(
        mesh, axis_name, bool(bidirectional), chunk_size or batch_size // num_devices
    )
    return function(
        ops.cast(image_embeddings, "float32"),
        ops.cast(text_embeddings, "float32"),
        ops.cast(log_temperature, "float32"),
        ops.cast(bias, "float32"),
    )


@functools.cache
def _loss_function(mesh, axis_name, bidirectional, chunk_size):
    import jax
    from jax.sharding import PartitionSpec

    batch, replicated = PartitionSpec(axis_name), PartitionSpec()
    in_specs = (batch, batch, replicated, replicated)

    def sharded(with_gradients):
        out_specs = replicated
        if with_gradients:
            out_specs = (replicated, (batch, batch, replicated, replicated))
        local = functools.partial(
            _local_loss,
            axis_name=axis_name,
            num_devices=mesh.shape[axis_name],
            bidirectional=bidirectional,
            chunk_size=chunk_size,
            with_gradients=with_gradients,
        )
        # The custom gradient wraps the shard_map, so nothing inside it is
        # differentiated and its varying/invariant types need no checking.
        return jax.shard_map(
            local, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False
        )

    return scalar_with_gradient(sharded(False), sharded(True))


def _local_loss(
    images,
    texts,
    log_temperature,
    bias,
    axis_name,
    num_devices,
    bidirectional,
    chunk_size,
    with_gradients,
):
    """One device's part of the ring: its images against every device's texts."""
    import jax

    chunk_size = min(chunk_size, images.shape[0])

    def block(received_texts, positives):
        result = sweep(
            images, received_texts, log_temperature, bias, chunk_size, positives, with_gradients
        )
        return result if with_gradients else (result, None)

    def shifted(shift, tensors):
        """Every device sends `tensors` to the device `shift` places further on."""
        permutation = [(i, (i + shift) % num_devices) for i in range(num_devices)]
        return jax.lax.ppermute(tensors, axis_name, permutation)

    # Each traveller is (texts, gradient of those texts); `gradients` are the
    # image, temperature and bias gradients, which stay on this device.
    value, gradients = block(texts, positives=True)
    own_text_gradient = None
    if with_gradients:
        own_text_gradient = gradients[1]
        gradients = (gradients[0], gradients[2], gradients[3])
    zeros = ops.zeros_like(texts) if with_gradients else None

    def visit(shift, traveller, value, gradients):
        """Move one traveller a step and add the block it brings."""
        received, received_gradient = shifted(shift, traveller)
        block_value, block_gradients = block(received, positives=False)
        value = value + block_value
        if with_gradients:
            received_gradient = received_gradient + block_gradients[1]
            gradients = (
                gradients[0] + block_gradients[0],
                gradients[1] + block_gradients[2],
                gradients[2] + block_gradients[3],
            )
        return (received, received_gradient), value, gradients

    # Steps to the right and to the left: together D - 1, every other device once.
    right_steps = num_devices // 2 if bidirectional else num_devices - 1
    left_steps = num_devices - 1 - right_steps
    right, left = (texts, zeros), (texts, zeros)

    def both_ways(step, carry):
        right, left, value, gradients = carry
        right, value, gradients = visit(1, right, value, gradients)
        left, value, gradients = visit(-1, left, value, gradients)
        return right, left, value, gradients

    def right_only(step, carry):
        right, left, value, gradients = carry
        right, value, gradients = visit(1, right, value, gradients)
        return right, left, value, gradients

    carry = (right, left, value, gradients)
    carry = jax.lax.fori_loop(0, left_steps, both_ways, carry)
    carry = jax.lax.fori_loop(0, right_steps - left_steps, right_only, carry)
    right, left, value, gradients = carry

    scale = 1.0 / num_devices  # the blocks are normalised by b; the loss by D * b
    value = jax.lax.psum(value, axis_name) * scale
    if not with_gradients:
        return value
    # Send each traveller's text gradient home to the device owning those texts.
    right_gradient = shifted(-right_steps, right[1])
    text_gradient = own_text_gradient + right_gradient
    if left_steps:
        left_gradient = shifted(left_steps, left[1])
        text_gradient = text_gradient + left_gradient
    image_gradient, temperature_gradient, bias_gradient = gradients
    return value, (
        image_gradient * scale,
        text_gradient * scale,
        jax.lax.psum(temperature_gradient, axis_name) * scale,
        jax.lax.psum(bias_gradient, axis_name) * scale,
    )
