"""big_vision `.npz` checkpoints: parity with transformers, scanned and flat layouts, errors.

The checkpoints are written here from a transformers model's state dict, with
big_vision's names and layouts (Flax kernels `(in, out)`, attention kernels split
into heads, position embeddings with a leading batch axis), independently of the
converter's own mapping; the converted model must then compute what transformers
computes.
"""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers_reference import (  # noqa: E402
    IMAGE_SIZE,
    NUM_HEADS,
    SEQUENCE_LENGTH,
    TOWER,
    WIDTH,
    assert_same_outputs,
    random_inputs,
    tiny_model,
)

from keras_siglip.convert.big_vision import (  # noqa: E402
    is_big_vision_checkpoint,
    load_big_vision_checkpoint,
)

HEAD_DIM = WIDTH // NUM_HEADS


def big_vision_arrays(model, scanned=False, split_heads=True, text_head=True):
    """The arrays of a big_vision checkpoint holding `model`'s weights."""
    state = {name: value.detach().numpy().copy() for name, value in model.state_dict().items()}
    arrays = {}

    def dense(name, source):
        arrays[f"{name}/kernel"] = state[f"{source}.weight"].T
        arrays[f"{name}/bias"] = state[f"{source}.bias"]

    def norm(name, source):
        arrays[f"{name}/scale"] = state[f"{source}.weight"]
        arrays[f"{name}/bias"] = state[f"{source}.bias"]

    def attention(name, projections, output):
        for part, (weight, bias) in zip(("query", "key", "value"), projections):
            kernel = weight.T  # (in, out); out is heads x head_dim, head-major
            arrays[f"{name}/{part}/kernel"] = (
                kernel.reshape(WIDTH, NUM_HEADS, HEAD_DIM) if split_heads else kernel
            )
            arrays[f"{name}/{part}/bias"] = (
                bias.reshape(NUM_HEADS, HEAD_DIM) if split_heads else bias
            )
        kernel = state[f"{output}.weight"].T
        arrays[f"{name}/out/kernel"] = (
            kernel.reshape(NUM_HEADS, HEAD_DIM, WIDTH) if split_heads else kernel
        )
        arrays[f"{name}/out/bias"] = state[f"{output}.bias"]

    def block(name, source):
        norm(f"{name}/LayerNorm_0", f"{source}.layer_norm1")
        attention(
            f"{name}/MultiHeadDotProductAttention_0",
            [
                (
                    state[f"{source}.self_attn.{p}_proj.weight"],
                    state[f"{source}.self_attn.{p}_proj.bias"],
                )
                for p in ("q", "k", "v")
            ],
            f"{source}.self_attn.out_proj",
        )
        norm(f"{name}/LayerNorm_1", f"{source}.layer_norm2")
        dense(f"{name}/MlpBlock_0/Dense_0", f"{source}.mlp.fc1")
        dense(f"{name}/MlpBlock_0/Dense_1", f"{source}.mlp.fc2")

    patch = state["vision_model.embeddings.patch_embedding.weight"]  # (out, in, h, w)
    arrays["img/embedding/kernel"] = patch.transpose(2, 3, 1, 0)
    arrays["img/embedding/bias"] = state["vision_model.embeddings.patch_embedding.bias"]
    arrays["img/pos_embedding"] = state["vision_model.embeddings.position_embedding.weight"][None]
    for index in range(TOWER["num_hidden_layers"]):
        block(f"img/Transformer/encoderblock_{index}", f"vision_model.encoder.layers.{index}")
        block(f"txt/Encoder_0/encoderblock_{index}", f"text_model.encoder.layers.{index}")
    norm("img/Transformer/encoder_norm", "vision_model.post_layernorm")
    arrays["img/MAPHead_0/probe"] = state["vision_model.head.probe"]
    packed_weight = state["vision_model.head.attention.in_proj_weight"]
    packed_bias = state["vision_model.head.attention.in_proj_bias"]
    attention(
        "img/MAPHead_0/MultiHeadDotProductAttention_0",
        [
            (packed_weight[i * WIDTH : (i + 1) * WIDTH], packed_bias[i * WIDTH : (i + 1) * WIDTH])
            for i in range(3)
        ],
        "vision_model.head.attention.out_proj",
    )
    norm("img/MAPHead_0/LayerNorm_0", "vision_model.head.layernorm")
    dense("img/MAPHead_0/MlpBlock_0/Dense_0", "vision_model.head.mlp.fc1")
    dense("img/MAPHead_0/MlpBlock_0/Dense_1", "vision_model.head.mlp.fc2")

    arrays["txt/Embed_0/embedding"] = state["text_model.embeddings.token_embedding.weight"]
    arrays["txt/pos_embedding"] = state["text_model.embeddings.position_embedding.weight"][None]
    norm("txt/Encoder_0/encoder_norm", "text_model.final_layer_norm")
    if text_head:
        dense("txt/head", "text_model.head")
    arrays["t"] = state["logit_scale"]
    arrays["b"] = state["logit_bias"]

    if scanned:
        for tower in ("img/Transformer", "txt/Encoder_0"):
            first = f"{tower}/encoderblock_0/"
            for key in [key for key in arrays if key.startswith(first)]:
                suffix = key[len(first) :]
                layers = [
                    arrays.pop(f"{tower}/encoderblock_{index}/{suffix}")
                    for index in range(TOWER["num_hidden_layers"])
                ]
                arrays[f"{tower}/encoderblock/{suffix}"] = np.stack(layers)
    return {f"params/{key}": value for key, value in arrays.items()}


def save(path, arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.fixture(scope="module")
def reference():
    return tiny_model(seed=1)


@pytest.fixture
def inputs(rng):
    return random_inputs(rng)


@pytest.mark.parametrize("scanned", [False, True], ids=["blocks", "scanned"])
def test_loaded_model_matches_transformers(reference, inputs, tmp_path, scanned):
    path = save(tmp_path / "siglip.npz", big_vision_arrays(reference, scanned=scanned))
    assert is_big_vision_checkpoint(path)
    model = load_big_vision_checkpoint(path)
    assert model.image_size == IMAGE_SIZE and model.sequence_length == SEQUENCE_LENGTH
    assert model.image_encoder.num_heads == model.text_encoder.num_heads == NUM_HEADS
    assert model.image_encoder.intermediate_dim == TOWER["intermediate_size"]
    assert_same_outputs(model, reference, inputs)


def test_from_preset_reads_big_vision_checkpoints(reference, inputs, tmp_path):
    from keras_siglip import SigLIP

    path = save(tmp_path / "siglip.npz", big_vision_arrays(reference, scanned=True))
    assert_same_outputs(SigLIP.from_preset(path), reference, inputs)


def test_flattened_attention_kernels_need_the_number_of_heads(reference, inputs, tmp_path):
    path = save(tmp_path / "flat.npz", big_vision_arrays(reference, split_heads=False))
    with pytest.raises(ValueError, match="pass `num_heads` or `variant`"):
        load_big_vision_checkpoint(path)
    assert_same_outputs(load_big_vision_checkpoint(path, num_heads=NUM_HEADS), reference, inputs)


def test_missing_text_head_is_an_identity(reference, inputs, tmp_path):
    without_head = copy.deepcopy(reference)
    with torch.no_grad():
        without_head.text_model.head.weight.copy_(torch.eye(WIDTH))
        without_head.text_model.head.bias.zero_()
    path = save(tmp_path / "no_head.npz", big_vision_arrays(reference, text_head=False))
    assert_same_outputs(load_big_vision_checkpoint(path), without_head, inputs)


def test_arguments_are_checked_against_the_shapes(reference, tmp_path):
    path = save(tmp_path / "siglip.npz", big_vision_arrays(reference))
    with pytest.raises(
        ValueError,
        match=r"not a 'Pico/8' checkpoint.*image intermediate_dim 256 \(checkpoint: 128\)",
    ):
        load_big_vision_checkpoint(path, variant="Pico/8")
    with pytest.raises(ValueError, match=r"`image_size` 48 gives a 6 x 6 grid.*4 x 4"):
        load_big_vision_checkpoint(path, image_size=48)
    with pytest.raises(ValueError, match="`sequence_length` is 8"):
        load_big_vision_checkpoint(path, sequence_length=8)
    with pytest.raises(ValueError, match="`num_heads` is 2"):
        load_big_vision_checkpoint(path, num_heads=2)
    # Patches that do not tile the image: 39 px is still a 4 x 4 grid of 8 px.
    assert load_big_vision_checkpoint(path, image_size=39).image_size == 39


def test_unexpected_and_missing_arrays_are_listed(reference, tmp_path):
    arrays = big_vision_arrays(reference)
    arrays["params/img/head/kernel"] = np.zeros((WIDTH, 10), "float32")
    del arrays["params/txt/Encoder_0/encoderblock_1/LayerNorm_1/bias"]
    path = save(tmp_path / "siglip.npz", arrays)
    with pytest.raises(ValueError) as error:
        load_big_vision_checkpoint(path)
    message = str(error.value)
    assert "missing keys (1): 'txt/Encoder_0/encoderblock_1/LayerNorm_1/bias'" in message
    assert "unexpected keys (1): 'img/head/kernel'" in message


def test_shape_mismatch_names_variable_key_and_shapes(reference, tmp_path):
    arrays = big_vision_arrays(reference)
    key = "params/txt/Encoder_0/encoderblock_1/MlpBlock_0/Dense_1/bias"
    arrays[key] = np.zeros(WIDTH + 1, "float32")
    path = save(tmp_path / "siglip.npz", arrays)
    with pytest.raises(ValueError) as error:
        load_big_vision_checkpoint(path)
    message = str(error.value)
    for part in (
        "text_encoder/encoder_block_1/mlp/contract/bias",
        "'txt/Encoder_0/encoderblock_1/MlpBlock_0/Dense_1/bias'",
        f"shape ({WIDTH + 1},) in the checkpoint",
        f"expects ({WIDTH},)",
    ):
        assert part in message, message


def test_recognising_checkpoints(reference, tmp_path):
    assert is_big_vision_checkpoint(save(tmp_path / "a.npz", big_vision_arrays(reference)))
    without_prefix = {
        key[len("params/") :]: value for key, value in big_vision_arrays(reference).items()
    }
    assert is_big_vision_checkpoint(save(tmp_path / "b.npz", without_prefix))
    assert not is_big_vision_checkpoint(save(tmp_path / "other.npz", {"x": np.zeros(3)}))
    assert not is_big_vision_checkpoint(str(tmp_path / "missing.npz"))
    assert not is_big_vision_checkpoint(str(tmp_path))
    with pytest.raises(ValueError, match="not a big_vision SigLIP checkpoint"):
        load_big_vision_checkpoint(str(tmp_path / "other.npz"))
    with pytest.raises(FileNotFoundError):
        load_big_vision_checkpoint(str(tmp_path / "missing.npz"))


def test_non_float_arrays_are_refused(reference, tmp_path):
    arrays = big_vision_arrays(reference)
    arrays["params/b"] = np.array([1], "int32")
    with pytest.raises(ValueError, match="'params/b' has dtype int32"):
        load_big_vision_checkpoint(save(tmp_path / "siglip.npz", arrays))


def test_sizes_from_the_headers_are_refused_before_anything_is_built(
    reference, tmp_path, monkeypatch
):
    from keras_siglip.convert import weights

    def refuse_to_build(*arguments, **keywords):
        raise AssertionError("a model was built from a checkpoint that should have been refused")

    monkeypatch.setattr(weights, "build_siglip", refuse_to_build)
    arrays = big_vision_arrays(reference, scanned=True)
    # A scanned encoder's depth is the first axis of its stacked arrays.
    arrays["params/img/Transformer/encoderblock/LayerNorm_0/scale"] = np.ones(
        (129, WIDTH), "float32"
    )
    with pytest.raises(ValueError, match=r"the blocks of 'img/Transformer'` as 129.*128"):
        load_big_vision_checkpoint(save(tmp_path / "deep.npz", arrays))


def test_an_array_header_larger_than_its_data_is_refused_unread(reference, tmp_path):
    import zipfile

    path = save(tmp_path / "siglip.npz", big_vision_arrays(reference))
    # A header that claims 2.5 GB in a member that holds nothing after it.
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 64), "float32"))
    header["shape"] = (10_000_000, 64)
    with zipfile.ZipFile(path, "a") as archive, archive.open("params/extra.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, header)
    with pytest.raises(ValueError, match=r"'params/extra' declares shape \(10000000, 64\)"):
        load_big_vision_checkpoint(path)
