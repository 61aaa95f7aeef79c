"""Locked-tower tuning (LiT): locked towers do not train, weight-decay masks, saving."""

import os
import warnings

import keras
import numpy as np
import pytest
from helpers import pico, random_batch
from test_layers import as_numpy

from keras_siglip import SigLIP


def values(variables):
    return [as_numpy(variable) for variable in variables]


def ids(variables):
    return {id(variable) for variable in variables}


def tower(model, name):
    return {"image": model.image_encoder, "text": model.text_encoder}[name]


def kernels(layer):
    return [v for v in layer.trainable_variables if v.path.split("/")[-1] == "kernel"]


@pytest.mark.parametrize("locked", ["image", "text"])
def test_fit_leaves_the_locked_tower_and_trains_the_other(rng, locked):
    model = pico(locked_towers=(locked,), dropout=0.1)
    trained = "text" if locked == "image" else "image"
    locked_tower, trained_tower = tower(model, locked), tower(model, trained)
    assert model.locked_towers == (locked,)
    assert ids(model.trainable_variables) == ids(trained_tower.weights) | ids(
        [model.log_temperature, model.bias]
    )
    model.compile(learning_rate=1e-2)
    locked_before = values(locked_tower.weights)
    trained_before = values(trained_tower.weights)
    scalars_before = values([model.log_temperature, model.bias])
    model.fit(random_batch(rng), epochs=3, verbose=0)
    for old, new in zip(locked_before, values(locked_tower.weights)):
        np.testing.assert_array_equal(new, old)
    trained_after = values(trained_tower.weights)
    assert all(not np.array_equal(old, new) for old, new in zip(trained_before, trained_after))
    for old, new in zip(scalars_before, values([model.log_temperature, model.bias])):
        assert not np.array_equal(old, new)


def test_locked_tower_runs_in_inference_mode(rng):
    model = pico(locked_towers=("image",), dropout=0.5)
    inputs = random_batch(rng, 4)
    np.testing.assert_array_equal(
        as_numpy(model.encode_images(inputs["images"], training=True)),
        as_numpy(model.encode_images(inputs["images"], training=False)),
    )
    # The unlocked tower still drops out while training.
    assert not np.allclose(
        as_numpy(model.encode_texts(inputs["token_ids"], training=True)),
        as_numpy(model.encode_texts(inputs["token_ids"], training=False)),
    )


def test_locked_towers_can_be_changed_and_are_checked():
    model = pico()
    assert model.locked_towers == ()
    model.locked_towers = ["text", "image"]
    assert model.locked_towers == ("image", "text")
    assert ids(model.trainable_variables) == ids([model.log_temperature, model.bias])
    model.locked_towers = ("text",)
    assert model.image_encoder.trainable and not model.text_encoder.trainable
    model.locked_towers = ()
    assert model.image_encoder.trainable and model.text_encoder.trainable
    with pytest.raises(ValueError, match=r"a tuple of tower names .* got 'image'"):
        model.locked_towers = "image"
    with pytest.raises(ValueError, match=r"unknown towers \['vision'\]"):
        pico(locked_towers=("vision",))
    with pytest.raises(ValueError, match="`towers_without_decay` names unknown towers"):
        model.compile(towers_without_decay=("both",))


@pytest.mark.parametrize(
    "locked_towers, towers_without_decay, decayed",
    [
        ((), (), ("image", "text")),
        ((), ("text",), ("image",)),
        ((), ("image", "text"), ()),
        (("image",), (), ("text",)),
        (("image",), ("text",), ()),
        (("text",), ("image",), ()),
        (("image",), ("image",), ("text",)),
    ],
)
def test_weight_decay_mask_is_as_documented(locked_towers, towers_without_decay, decayed):
    """Exactly the kernels of the trained towers not in `towers_without_decay` decay."""
    model = pico(locked_towers=locked_towers)
    model.compile(learning_rate=1e-2, weight_decay=0.1, towers_without_decay=towers_without_decay)
    assert model.towers_without_decay == towers_without_decay
    expected_decayed = ids(v for name in decayed for v in kernels(tower(model, name)))
    excluded = ids(model.variables_without_decay())
    assert excluded == ids(model.trainable_variables) - expected_decayed
    # The optimizer applies that mask: with zero gradients Adam moves nothing, so
    # only weight decay acts.
    variables = model.trainable_variables
    before = values(variables)
    model.optimizer.apply([keras.ops.zeros(v.shape, v.dtype) for v in variables], variables)
    for variable, old in zip(variables, before):
        if id(variable) in expected_decayed:
            np.testing.assert_allclose(as_numpy(variable), old * (1 - 0.1), rtol=1e-5)
        else:
            np.testing.assert_array_equal(as_numpy(variable), old)


def test_a_passed_optimizer_gets_the_same_mask():
    model = pico()
    model.compile(
        optimizer=keras.optimizers.AdamW(weight_decay=0.1), towers_without_decay=("image",)
    )
    variables = model.trainable_variables
    before = values(variables)
    model.optimizer.apply([keras.ops.zeros(v.shape, v.dtype) for v in variables], variables)
    changed = {id(v) for v, old in zip(variables, before) if not np.array_equal(as_numpy(v), old)}
    assert changed == ids(kernels(model.text_encoder))


def test_lit_setup_survives_a_keras_file(rng, tmp_path):
    model = pico(locked_towers=("image",))
    model.compile(towers_without_decay=("text",))
    inputs = random_batch(rng, 4)
    model.fit(inputs, epochs=1, verbose=0)
    assert SigLIP.from_config(model.get_config()).locked_towers == ("image",)
    path = os.path.join(tmp_path, "lit.keras")
    model.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored = keras.saving.load_model(path)
    # The optimizer state fits: the restored model trains the same variables.
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    assert restored.locked_towers == ("image",)
    assert restored.towers_without_decay == ("text",)
    assert ids(restored.variables_without_decay()) == ids(restored.trainable_variables)
    np.testing.assert_array_equal(as_numpy(restored(inputs)), as_numpy(model(inputs)))
    image_before = values(restored.image_encoder.weights)
    restored.fit(inputs, epochs=1, verbose=0)
    for old, new in zip(image_before, values(restored.image_encoder.weights)):
        np.testing.assert_array_equal(new, old)
