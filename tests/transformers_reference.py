"""A tiny transformers `SiglipModel` as the reference for the converter tests.

Every parameter is moved off its initial value (LayerNorm scales away from 1,
biases away from 0, the temperature and bias away from 0), so that a weight left
unloaded, transposed or swapped changes the outputs. Callers import this module
after `pytest.importorskip("torch")` and `("transformers")`.
"""

import keras
import numpy as np
import torch
import transformers

IMAGE_SIZE, PATCH_SIZE, SEQUENCE_LENGTH, VOCABULARY_SIZE = 32, 8, 16, 1000
WIDTH, NUM_HEADS = 64, 4
TOWER = {
    "hidden_size": WIDTH,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": NUM_HEADS,
}
LOG_TEMPERATURE, BIAS = 1.7, -2.3
ATOL = 1e-5


def tiny_config():
    return transformers.SiglipConfig(
        text_config={
            **TOWER,
            "vocab_size": VOCABULARY_SIZE,
            "max_position_embeddings": SEQUENCE_LENGTH,
            "bos_token_id": None,
            "eos_token_id": 1,
        },
        vision_config={**TOWER, "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE},
    )


def tiny_model(seed=0):
    """A float32 `SiglipModel` in eval mode, every parameter off its init."""
    torch.manual_seed(seed)
    model = transformers.SiglipModel(tiny_config()).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
            if "norm" in name:
                parameter.add_(0.3 * torch.randn_like(parameter))
        model.logit_scale.fill_(LOG_TEMPERATURE)
        model.logit_bias.fill_(BIAS)
    return model


def random_inputs(rng, batch_size=3):
    """`(images, token_ids)`: channels-last images in [-1, 1] and int32 ids."""
    return (
        rng.uniform(-1, 1, (batch_size, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32"),
        rng.integers(0, VOCABULARY_SIZE, (batch_size, SEQUENCE_LENGTH)).astype("int32"),
    )


def transformers_outputs(model, images, token_ids):
    """Normalised image and text embeddings, and `logits_per_image`."""
    pixel_values = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    input_ids = torch.from_numpy(token_ids.astype(np.int64))
    with torch.no_grad():
        logits = model(input_ids=input_ids, pixel_values=pixel_values).logits_per_image
        image = model.get_image_features(pixel_values=pixel_values)
        text = model.get_text_features(input_ids=input_ids)
    # transformers 5 returns the model output; earlier versions the pooled tensor.
    image, text = (getattr(value, "pooler_output", value).numpy() for value in (image, text))
    return _normalise(image), _normalise(text), logits.numpy()


def keras_outputs(model, images, token_ids):
    """The same three outputs of a `keras_siglip.SigLIP`."""
    return tuple(
        keras.ops.convert_to_numpy(value)
        for value in (
            model.encode_images(images),
            model.encode_texts(token_ids),
            model({"images": images, "token_ids": token_ids}),
        )
    )


def assert_same_outputs(model, reference_model, inputs, atol=ATOL):
    for name, ours, theirs in zip(
        ("image embeddings", "text embeddings", "logits"),
        keras_outputs(model, *inputs),
        transformers_outputs(reference_model, *inputs),
    ):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=atol, err_msg=name)


def _normalise(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)
