"""transformers checkpoints: parity with transformers' own SiglipModel, and clear errors."""

import copy
import json
import os
import shutil

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")
hf = pytest.importorskip("transformers")

from transformers_reference import (  # noqa: E402
    BIAS,
    IMAGE_SIZE,
    LOG_TEMPERATURE,
    SEQUENCE_LENGTH,
    VOCABULARY_SIZE,
    assert_same_outputs,
    random_inputs,
    tiny_model,
)

from keras_siglip.convert.transformers import (  # noqa: E402
    REMOTE_PATTERNS,
    config_from_transformers,
    is_transformers_directory,
    load_transformers_checkpoint,
    preprocessor_from_transformers,
    resolve_remote,
    tokenizer_from_transformers,
)
from keras_siglip.preprocessing import train_sentencepiece  # noqa: E402


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """`(transformers model, directory it is saved in)`."""
    model = tiny_model()
    path = str(tmp_path_factory.mktemp("transformers") / "siglip")
    model.save_pretrained(path)
    return model, path


@pytest.fixture
def inputs(rng):
    return random_inputs(rng)


def copy_with_config(source, destination, edit):
    shutil.copytree(source, destination)
    with open(os.path.join(destination, "config.json")) as file:
        config = json.load(file)
    edit(config)
    with open(os.path.join(destination, "config.json"), "w") as file:
        json.dump(config, file)
    return str(destination)


# --- Parity ---------------------------------------------------------------------


def test_loaded_model_matches_transformers(reference, inputs):
    reference_model, path = reference
    model = load_transformers_checkpoint(path)
    assert model.image_size == IMAGE_SIZE and model.sequence_length == SEQUENCE_LENGTH
    assert model.vocabulary_size == VOCABULARY_SIZE
    assert float(keras.ops.convert_to_numpy(model.log_temperature)) == pytest.approx(
        LOG_TEMPERATURE
    )
    assert float(keras.ops.convert_to_numpy(model.bias)) == pytest.approx(BIAS)
    assert_same_outputs(model, reference_model, inputs)
    assert model.count_params() == sum(p.numel() for p in reference_model.parameters())


def test_from_preset_reads_transformers_directories(reference, inputs):
    from keras_siglip import SigLIP

    reference_model, path = reference
    assert_same_outputs(SigLIP.from_preset(path), reference_model, inputs)


def test_bfloat16_checkpoint_loads_its_exact_values(reference, inputs, tmp_path):
    reference_model, _ = reference
    model_bf16 = copy.deepcopy(reference_model).to(torch.bfloat16)
    model_bf16.save_pretrained(tmp_path)
    model = load_transformers_checkpoint(str(tmp_path))
    assert keras.backend.standardize_dtype(model.text_encoder.head.kernel.dtype) == "float32"
    # The float32 model holding the bfloat16 values computes what ours computes.
    assert_same_outputs(model, model_bf16.float(), inputs)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.text_encoder.head.kernel),
        reference_model.text_model.head.weight.detach().numpy().T,
        rtol=2**-8,
    )


def test_sharded_checkpoint_loads(reference, inputs, tmp_path):
    reference_model, _ = reference
    reference_model.save_pretrained(tmp_path, max_shard_size="100KB")
    files = os.listdir(tmp_path)
    assert "model.safetensors.index.json" in files and "model.safetensors" not in files
    assert sum(name.endswith(".safetensors") for name in files) > 1
    assert_same_outputs(load_transformers_checkpoint(str(tmp_path)), reference_model, inputs)


def test_towers_in_another_dtype(reference):
    reference_model, path = reference
    model = load_transformers_checkpoint(path, dtype="bfloat16")
    kernel = model.image_encoder.pooling.mlp.expand.kernel
    assert keras.backend.standardize_dtype(kernel.dtype) == "bfloat16"
    expected = reference_model.vision_model.head.mlp.fc1.weight.detach().numpy().T
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.cast(kernel, "float32")), expected, rtol=2**-8
    )


def test_architecture_only(reference):
    _, path = reference
    model = load_transformers_checkpoint(path, load_weights=False)
    assert model.count_params() == load_transformers_checkpoint(path).count_params()
    assert float(keras.ops.convert_to_numpy(model.bias)) == -10.0


# --- Refusals and errors --------------------------------------------------------


def test_pickled_weights_are_refused_without_being_read(reference, tmp_path):
    _, path = reference
    shutil.copy(os.path.join(path, "config.json"), tmp_path)
    with open(tmp_path / "pytorch_model.bin", "wb") as file:
        file.write(b"not a pickle: the loader must not open it")
    with pytest.raises(ValueError, match=r"pytorch_model\.bin, a pickle.*save_pretrained"):
        load_transformers_checkpoint(str(tmp_path))


def test_no_weights_at_all(reference, tmp_path):
    _, path = reference
    shutil.copy(os.path.join(path, "config.json"), tmp_path)
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        load_transformers_checkpoint(str(tmp_path))


def test_a_cut_short_safetensors_file_is_named(reference, tmp_path):
    _, path = reference
    shutil.copy(os.path.join(path, "config.json"), tmp_path)
    with open(os.path.join(path, "model.safetensors"), "rb") as file:
        contents = file.read()
    (tmp_path / "model.safetensors").write_bytes(contents[: len(contents) // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors is not a safetensors file"):
        load_transformers_checkpoint(str(tmp_path))


def test_safetensors_arrays_are_read_without_torch(tmp_path):
    """bfloat16 arrays come back widened to float32, exactly as ml_dtypes widens them."""
    import ml_dtypes
    from safetensors.numpy import save_file

    from keras_siglip.convert.safetensors_weights import SafetensorsCheckpoint

    rng = np.random.default_rng(5)
    arrays = {
        "bf16": rng.standard_normal((3, 5)).astype(ml_dtypes.bfloat16),
        "f16": rng.standard_normal((4,)).astype(np.float16),
        "f32": rng.standard_normal((2, 2, 2)).astype(np.float32),
    }
    save_file({"bf16": arrays["bf16"]}, str(tmp_path / "a.safetensors"))
    save_file({"f16": arrays["f16"], "f32": arrays["f32"]}, str(tmp_path / "b.safetensors"))
    files = [str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors")]
    with SafetensorsCheckpoint(files) as checkpoint:
        assert checkpoint.shapes == {"bf16": (3, 5), "f16": (4,), "f32": (2, 2, 2)}
        bf16 = checkpoint.read("bf16")
        assert bf16.dtype == np.float32
        np.testing.assert_array_equal(bf16, arrays["bf16"].astype(np.float32))
        for key in ("f16", "f32"):
            assert checkpoint.read(key).dtype == arrays[key].dtype
            np.testing.assert_array_equal(checkpoint.read(key), arrays[key])
    with pytest.raises(ValueError, match="'bf16' is in both"):
        SafetensorsCheckpoint([files[0], files[0]])


def test_config_that_does_not_fit_the_weights_names_variable_key_and_shapes(reference, tmp_path):
    _, path = reference

    def narrower_text_mlp(config):
        config["text_config"]["intermediate_size"] = 96

    edited = copy_with_config(path, tmp_path / "edited", narrower_text_mlp)
    with pytest.raises(ValueError) as error:
        load_transformers_checkpoint(edited)
    message = str(error.value)
    for part in (
        "text_encoder/encoder_block_0/mlp/expand/kernel",
        "'text_model.encoder.layers.0.mlp.fc1.weight'",
        "shape (128, 64) in the checkpoint",
        "expects (96, 64)",
        "config.json",
    ):
        assert part in message, message


@pytest.mark.parametrize(
    "num_layers, expected",
    [
        (1, r"unexpected keys \(16\): 'vision_model\.encoder\.layers\.1\."),
        (3, r"missing keys \(16\): 'vision_model\.encoder\.layers\.2\."),
    ],
)
def test_wrong_depth_lists_the_keys(reference, tmp_path, num_layers, expected):
    _, path = reference

    def depth(config):
        config["vision_config"]["num_hidden_layers"] = num_layers

    edited = copy_with_config(path, tmp_path / "edited", depth)
    with pytest.raises(ValueError, match=expected):
        load_transformers_checkpoint(edited)


@pytest.mark.parametrize(
    "model_type, expected",
    [
        ("clip", r"describes a 'clip' model.*'siglip'"),
        ("siglip2", r"SigLIP 2 NaFlex.*different architecture.*fixed resolution"),
        ("siglip_vision_model", "one tower alone"),
    ],
)
def test_other_model_types_are_refused(reference, tmp_path, model_type, expected):
    _, path = reference

    def retype(config):
        config["model_type"] = model_type

    edited = copy_with_config(path, tmp_path / "edited", retype)
    assert is_transformers_directory(edited)
    with pytest.raises(ValueError, match=expected):
        load_transformers_checkpoint(edited)


def test_is_transformers_directory(reference, tmp_path):
    _, path = reference
    assert is_transformers_directory(path)
    assert not is_transformers_directory(os.path.join(path, "config.json"))
    assert not is_transformers_directory(str(tmp_path))
    assert not is_transformers_directory(str(tmp_path / "missing"))
    assert not is_transformers_directory(None)
    with open(tmp_path / "config.json", "w") as file:
        json.dump({"class_name": "SigLIP", "config": {}}, file)  # a Keras preset
    assert not is_transformers_directory(str(tmp_path))


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_transformers_checkpoint(str(tmp_path / "missing"))


# --- Configuration --------------------------------------------------------------


def test_config_defaults_are_transformers_defaults():
    config = config_from_transformers(
        {"model_type": "siglip", "text_config": {"model_type": "siglip_text_model"}}
    )
    assert config["image_encoder"] == {
        "image_size": 224,
        "patch_size": 16,
        "hidden_dim": 768,
        "num_layers": 12,
        "num_heads": 12,
        "intermediate_dim": 3072,
        "layer_norm_epsilon": 1e-6,
    }
    assert config["text_encoder"]["vocabulary_size"] == 32000
    assert config["text_encoder"]["sequence_length"] == 64
    assert config["text_encoder"]["embedding_dim"] == 768


def test_config_with_a_text_projection():
    config = config_from_transformers(
        {
            "model_type": "siglip",
            "text_config": {"hidden_size": 1152, "projection_size": 1536},
            "vision_config": {"hidden_size": 1536, "image_size": [256, 256]},
        }
    )
    assert config["text_encoder"]["hidden_dim"] == 1152
    assert config["text_encoder"]["embedding_dim"] == 1536
    assert config["image_encoder"]["image_size"] == 256


@pytest.mark.parametrize(
    "edit, expected",
    [
        ({"text_config": {"hidden_act": "gelu"}}, r"text_config\.hidden_act.*'gelu'"),
        ({"vision_config": {"vision_use_head": False}}, "vision_use_head"),
        ({"vision_config": {"image_size": [224, 256]}}, r"\[224, 256\].*square"),
        ({"text_config": {"projection_size": 512}}, "512 but the image tower a width of 768"),
        ({"vision_config": {"num_channels": 1}}, "num_channels"),
    ],
)
def test_configs_our_towers_cannot_express(edit, expected):
    with pytest.raises(ValueError, match=expected):
        config_from_transformers({"model_type": "siglip", **edit})


# --- Remote handles -------------------------------------------------------------


def test_hf_handles_download_only_what_is_read(reference, monkeypatch, rng):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    _, path = reference
    calls = []

    def snapshot_download(**kwargs):
        calls.append(kwargs)
        return path

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert resolve_remote("hf://owner/tiny-siglip@v1") == path
    model = load_transformers_checkpoint("hf://owner/tiny-siglip")
    assert model.image_size == IMAGE_SIZE
    assert calls == [
        {"repo_id": "owner/tiny-siglip", "revision": "v1", "allow_patterns": list(REMOTE_PATTERNS)},
        {"repo_id": "owner/tiny-siglip", "revision": None, "allow_patterns": list(REMOTE_PATTERNS)},
    ]
    assert set(REMOTE_PATTERNS) == {"*.json", "*.safetensors", "spiece.model"}
    for handle in (
        "hf://tiny-siglip",
        "hf://owner/",
        "hf://a/b/c",
        "owner/name",
        "hf://owner/name@",
    ):
        with pytest.raises(ValueError, match="owner/name"):
            resolve_remote(handle)
    assert len(calls) == 2


# --- Tokenizer and preprocessor -------------------------------------------------

CORPUS = [
    f"a photo of {count} {animal} on the {place}"
    for count in ("one", "two", "three", "many")
    for animal in ("cats", "dogs", "horses", "birds", "foxes")
    for place in ("grass", "road", "beach", "snow")
]
TEXTS = [
    "A photo of two CATS!",
    "three dogs, on the beach.",
    "foxes",
    "  many   birds\ton the snow  ",
    "a photo of many horses on the grass and a photo of one fox on the road again",
    "an unknown zebra",
]


@pytest.fixture(scope="module")
def tokenizer_directory(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    vocabulary = directory / "spiece.model"
    vocabulary.write_bytes(train_sentencepiece(CORPUS, 28))
    saved = directory / "saved"
    hf.SiglipTokenizer(vocab_file=str(vocabulary)).save_pretrained(str(saved))
    return str(saved)


def test_tokenizer_gives_transformers_ids(tokenizer_directory):
    reference = hf.SiglipTokenizer.from_pretrained(tokenizer_directory)
    expected = reference(
        TEXTS, padding="max_length", truncation=True, max_length=SEQUENCE_LENGTH
    ).input_ids
    tokenizer = tokenizer_from_transformers(tokenizer_directory, sequence_length=SEQUENCE_LENGTH)
    assert tokenizer.pad_id == tokenizer.eos_id == reference.pad_token_id == 1
    np.testing.assert_array_equal(tokenizer(TEXTS), np.array(expected))
    assert np.array(expected)[:, -1].tolist() == [1] * len(TEXTS)  # EOS or padding last


def test_tokenizer_length_defaults_to_the_models(reference, tokenizer_directory, tmp_path):
    _, path = reference
    shutil.copytree(path, tmp_path / "model")
    for name in os.listdir(tokenizer_directory):
        shutil.copy(os.path.join(tokenizer_directory, name), tmp_path / "model")
    assert tokenizer_from_transformers(str(tmp_path / "model")).sequence_length == SEQUENCE_LENGTH
    with pytest.raises(FileNotFoundError, match="pass `sequence_length`"):
        tokenizer_from_transformers(tokenizer_directory)


def test_tokenizer_needs_spiece_model(reference):
    _, path = reference
    with pytest.raises(FileNotFoundError, match=r"no spiece\.model.*Gemma"):
        tokenizer_from_transformers(path, sequence_length=SEQUENCE_LENGTH)


def test_tokenizer_with_an_unknown_pad_token(tokenizer_directory, tmp_path):
    shutil.copytree(tokenizer_directory, tmp_path / "saved")
    config_file = tmp_path / "saved" / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config["pad_token"] = "<padding>"
    config_file.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="'<padding>' as `pad_token`"):
        tokenizer_from_transformers(str(tmp_path / "saved"), sequence_length=8)


SIGLIP_IMAGE_PROCESSOR = {
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "image_processor_type": "SiglipImageProcessor",
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
}


@pytest.fixture
def model_with_preprocessing(reference, tokenizer_directory, tmp_path):
    _, path = reference
    directory = tmp_path / "model"
    shutil.copytree(path, directory)
    for name in os.listdir(tokenizer_directory):
        shutil.copy(os.path.join(tokenizer_directory, name), directory)
    (directory / "preprocessor_config.json").write_text(json.dumps(SIGLIP_IMAGE_PROCESSOR))
    return directory


def test_preprocessor(model_with_preprocessing, reference, inputs):
    preprocessor = preprocessor_from_transformers(str(model_with_preprocessing))
    assert preprocessor.image_size == IMAGE_SIZE
    assert preprocessor.sequence_length == SEQUENCE_LENGTH
    batch = preprocessor(
        {"images": np.zeros((2, 40, 50, 3), "uint8"), "texts": ["a cat", "two dogs"]}
    )
    model = load_transformers_checkpoint(str(model_with_preprocessing))
    assert tuple(model(batch).shape) == (2, 2)


@pytest.mark.parametrize(
    "edit, expected",
    [
        ({"image_mean": [0.485, 0.456, 0.406]}, r"\[-1, 1\]"),
        (
            {"size": {"height": 64, "width": 64}},
            "64 pixels but config.json gives the image tower 32",
        ),
        ({"size": {"shortest_edge": 32}}, "shortest edge"),
    ],
)
def test_preprocessor_refuses_what_it_cannot_reproduce(model_with_preprocessing, edit, expected):
    (model_with_preprocessing / "preprocessor_config.json").write_text(
        json.dumps({**SIGLIP_IMAGE_PROCESSOR, **edit})
    )
    with pytest.raises(ValueError, match=expected):
        preprocessor_from_transformers(str(model_with_preprocessing))


def test_preprocessor_warns_about_another_resampling(model_with_preprocessing):
    (model_with_preprocessing / "preprocessor_config.json").write_text(
        json.dumps({**SIGLIP_IMAGE_PROCESSOR, "resample": 2})
    )
    with pytest.warns(UserWarning, match="bicubic"):
        preprocessor_from_transformers(str(model_with_preprocessing))


# --- Files outside the checkpoint directory ---------------------------------------


def test_a_weight_map_entry_outside_the_directory_is_refused(reference, tmp_path):
    _, path = reference
    checkpoint = tmp_path / "a" / "checkpoint"
    shutil.copytree(path, checkpoint)
    # A real safetensors file where the entry points: only the location is wrong.
    (checkpoint / "model.safetensors").rename(tmp_path / "outside.safetensors")
    index = {"weight_map": {"logit_scale": "../../outside.safetensors"}}
    (checkpoint / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(
        ValueError, match=r"outside\.safetensors resolves to .*outside the directory"
    ):
        load_transformers_checkpoint(str(checkpoint))


def test_a_symlinked_shard_outside_the_directory_is_refused(reference, tmp_path):
    _, path = reference
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(path, checkpoint)
    (checkpoint / "model.safetensors").rename(tmp_path / "elsewhere.safetensors")
    (checkpoint / "model.safetensors").symlink_to(tmp_path / "elsewhere.safetensors")
    with pytest.raises(ValueError, match=r"model\.safetensors resolves to .*elsewhere"):
        load_transformers_checkpoint(str(checkpoint))
    # A link that stays inside the directory is fine.
    (checkpoint / "model.safetensors").unlink()
    (tmp_path / "elsewhere.safetensors").rename(checkpoint / "weights.bin.safetensors")
    (checkpoint / "model.safetensors").symlink_to("weights.bin.safetensors")
    assert load_transformers_checkpoint(str(checkpoint)).image_size == IMAGE_SIZE


def test_a_symlinked_vocabulary_outside_the_directory_is_refused(tokenizer_directory, tmp_path):
    saved = tmp_path / "saved"
    shutil.copytree(tokenizer_directory, saved)
    (saved / "spiece.model").rename(tmp_path / "spiece.model")
    (saved / "spiece.model").symlink_to(tmp_path / "spiece.model")
    with pytest.raises(ValueError, match=r"spiece\.model resolves to .*outside the directory"):
        tokenizer_from_transformers(str(saved), sequence_length=SEQUENCE_LENGTH)


def test_a_preprocessor_config_outside_the_directory_is_refused(model_with_preprocessing, tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(SIGLIP_IMAGE_PROCESSOR))
    (model_with_preprocessing / "preprocessor_config.json").unlink()
    (model_with_preprocessing / "preprocessor_config.json").symlink_to(outside)
    with pytest.raises(ValueError, match=r"preprocessor_config\.json resolves to"):
        preprocessor_from_transformers(str(model_with_preprocessing))


def hub_cache(root, source, repository="models--owner--tiny", link=None):
    """A Hugging Face cache laid out as `snapshot_download` leaves it: the snapshot's
    files are relative links into the repository's `blobs/` folder."""
    blobs = root / repository / "blobs"
    snapshot = root / repository / "snapshots" / "0123abcd"
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for index, name in enumerate(sorted(os.listdir(source))):
        shutil.copy(os.path.join(source, name), blobs / f"blob{index}")
        (snapshot / name).symlink_to(os.path.join("..", "..", "blobs", f"blob{index}"))
    return snapshot


def test_hub_snapshots_load_through_their_blob_links(reference, tmp_path, monkeypatch, inputs):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    reference_model, path = reference
    snapshot = hub_cache(tmp_path / "hub", path)
    # Passed as a local directory, its links lead outside it.
    with pytest.raises(ValueError, match="resolves to .*blobs"):
        load_transformers_checkpoint(str(snapshot))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda **kwargs: str(snapshot))
    model = load_transformers_checkpoint("hf://owner/tiny")
    assert_same_outputs(model, reference_model, inputs)


def test_hub_snapshot_links_outside_their_repository_are_refused(reference, tmp_path, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    _, path = reference
    cache = tmp_path / "hub"
    snapshot = hub_cache(cache, path)
    other = hub_cache(cache, path, repository="models--other--repository")
    (snapshot / "model.safetensors").unlink()
    (snapshot / "model.safetensors").symlink_to(other / "model.safetensors")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda **kwargs: str(snapshot))
    with pytest.raises(ValueError, match=r"model\.safetensors resolves to .*models--other"):
        load_transformers_checkpoint("hf://owner/tiny")


# --- Sizes checked before anything is built -------------------------------------


def refuse_to_build(*arguments, **keywords):
    raise AssertionError("a model was built from a config that should have been refused")


@pytest.mark.parametrize(
    "section, field, value, expected",
    [
        (
            "vision_config",
            "hidden_size",
            10_000_000,
            r"`vision_config\.hidden_size` as 10,000,000.*16,384",
        ),
        (
            "text_config",
            "vocab_size",
            10**9,
            r"`text_config\.vocab_size` as 1,000,000,000.*1,048,576",
        ),
        (
            "vision_config",
            "num_hidden_layers",
            1000,
            r"`vision_config\.num_hidden_layers` as 1,000.*128",
        ),
        ("vision_config", "image_size", 100_000, r"`vision_config\.image_size` as 100,000.*4,096"),
        ("text_config", "num_attention_heads", -2, r"`text_config\.num_attention_heads` as -2"),
        (
            "vision_config",
            "intermediate_size",
            "3072",
            r"`vision_config\.intermediate_size` as '3072'",
        ),
    ],
)
def test_config_sizes_are_refused_before_anything_is_built(
    reference, tmp_path, monkeypatch, section, field, value, expected
):
    _, path = reference
    tampered = copy_with_config(
        path, tmp_path / "tampered", lambda config: config[section].__setitem__(field, value)
    )
    from keras_siglip.convert import weights

    monkeypatch.setattr(weights, "build_siglip", refuse_to_build)
    with pytest.raises(ValueError, match=expected):
        load_transformers_checkpoint(tampered)


def test_a_config_whose_parameter_count_is_too_large_is_refused():
    # Every dimension within its ceiling, the whole far above 20 billion weights.
    tower = {
        "hidden_size": 16_384,
        "intermediate_size": 131_072,
        "num_hidden_layers": 128,
        "num_attention_heads": 128,
    }
    with pytest.raises(ValueError, match=r"config\.json: The image_encoder's config describes"):
        config_from_transformers(
            {"model_type": "siglip", "text_config": tower, "vision_config": tower}
        )
