"""keras_siglip.optimizers.AdamW against a NumPy AdamW and Keras' own AdamW.

On PyTorch the optimizer runs a fused kernel (see the module docstring); these tests
hold it to the same maths as Keras' AdamW on every backend: decoupled decay on the
variables not excluded, bias-corrected moments with Keras' epsilon placement, global
gradient-norm clipping, a learning-rate schedule, and its saved state.
"""

import keras
import numpy as np
import pytest

from keras_siglip.optimizers import AdamW

SHAPES = [(3, 4), (4,), (2, 3, 5), (1,)]


def numpy_adamw(
    weights,
    gradient_steps,
    learning_rates,
    weight_decay,
    decays,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-7,
    global_clipnorm=None,
    multipliers=None,
):
    multipliers = multipliers or [1.0] * len(weights)
    weights = [w.astype(np.float64).copy() for w in weights]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for t, (grads, lr) in enumerate(zip(gradient_steps, learning_rates), start=1):
        grads = [g.astype(np.float64) for g in grads]
        if global_clipnorm:
            norm = np.sqrt(sum(np.sum(g**2) for g in grads))
            grads = [g * min(1.0, global_clipnorm / norm) for g in grads]
        for i, g in enumerate(grads):
            if decays[i]:
                weights[i] *= 1 - lr * weight_decay
            m[i] = beta_1 * m[i] + (1 - beta_1) * g
            v[i] = beta_2 * v[i] + (1 - beta_2) * g**2
            alpha = lr * multipliers[i] * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
            weights[i] -= alpha * m[i] / (np.sqrt(v[i]) + epsilon)
    return weights, m, v


def run(optimizer_class, weights, gradient_steps, exclude, **kwargs):
    variables = [keras.Variable(w, name=f"w{i}") for i, w in enumerate(weights)]
    optimizer = optimizer_class(**kwargs)
    optimizer.exclude_from_weight_decay(var_list=[variables[i] for i in exclude])
    for grads in gradient_steps:
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
    return optimizer, [keras.ops.convert_to_numpy(v) for v in variables]


def random_problem(rng, steps=4, scale=1.0):
    weights = [rng.normal(size=s).astype("float32") for s in SHAPES]
    gradient_steps = [
        [(scale * rng.normal(size=s)).astype("float32") for s in SHAPES] for _ in range(steps)
    ]
    return weights, gradient_steps


@pytest.mark.parametrize("clip", [None, 0.5])
def test_matches_numpy_adamw_with_exclusions_and_clipping(rng, clip):
    weights, gradient_steps = random_problem(rng)
    exclude = [1, 3]
    optimizer, result = run(
        AdamW,
        weights,
        gradient_steps,
        exclude,
        learning_rate=0.05,
        weight_decay=0.3,
        global_clipnorm=clip,
    )
    expected, m, v = numpy_adamw(
        weights,
        gradient_steps,
        [0.05] * 4,
        0.3,
        [i not in exclude for i in range(4)],
        global_clipnorm=clip,
    )
    for got, want in zip(result, expected):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    # The state lives in Keras' slots: a checkpoint holds the same moments.
    for i, variable in enumerate(optimizer._trainable_variables):
        index = optimizer._get_variable_index(variable)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(optimizer._momentums[index]), m[i], rtol=1e-5, atol=1e-7
        )
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(optimizer._velocities[index]), v[i], rtol=1e-5, atol=1e-9
        )
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 4


def test_clipping_leaves_small_gradients_alone(rng):
    weights, gradient_steps = random_problem(rng, steps=2, scale=1e-3)
    _, clipped = run(
        AdamW,
        weights,
        gradient_steps,
        [],
        learning_rate=0.01,
        weight_decay=0.1,
        global_clipnorm=1.0,
    )
    _, unclipped = run(AdamW, weights, gradient_steps, [], learning_rate=0.01, weight_decay=0.1)
    for a, b in zip(clipped, unclipped):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_matches_keras_adamw_under_a_schedule(rng):
    weights, gradient_steps = random_problem(rng, steps=6)
    schedule = lambda: keras.optimizers.schedules.CosineDecay(  # noqa: E731
        0.0, decay_steps=6, warmup_target=0.02, warmup_steps=2
    )
    kwargs = dict(weight_decay=0.5, beta_1=0.9, beta_2=0.95, global_clipnorm=1.0)
    _, ours = run(AdamW, weights, gradient_steps, [0], learning_rate=schedule(), **kwargs)
    _, theirs = run(
        keras.optimizers.AdamW, weights, gradient_steps, [0], learning_rate=schedule(), **kwargs
    )
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


def test_zero_decay_with_every_variable_excluded_is_adam(rng):
    weights, gradient_steps = random_problem(rng, steps=3)
    _, result = run(AdamW, weights, gradient_steps, range(4), learning_rate=0.01, weight_decay=0.0)
    expected, _, _ = numpy_adamw(weights, gradient_steps, [0.01] * 3, 0.0, [False] * 4)
    for got, want in zip(result, expected):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_amsgrad_falls_back_to_keras(rng):
    weights, gradient_steps = random_problem(rng, steps=3)
    _, ours = run(
        AdamW, weights, gradient_steps, [], learning_rate=0.01, weight_decay=0.1, amsgrad=True
    )
    _, theirs = run(
        keras.optimizers.AdamW,
        weights,
        gradient_steps,
        [],
        learning_rate=0.01,
        weight_decay=0.1,
        amsgrad=True,
    )
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fused", [True, False])
def test_learning_rate_multipliers_scale_the_adam_step_not_the_decay(rng, fused):
    """Multipliers by variable path: the Adam step of w0 is 10x, of w2 0.5x; the decay
    keeps the plain rate. `clipvalue` far above the gradients takes Keras' own
    update on PyTorch instead of the fused kernel, changing nothing else."""
    weights, gradient_steps = random_problem(rng)
    exclude = [1, 3]
    options = {} if fused else {"clipvalue": 1e9}
    optimizer, result = run(
        AdamW,
        weights,
        gradient_steps,
        exclude,
        learning_rate=0.01,
        weight_decay=0.3,
        learning_rate_multipliers={"w0": 10.0, "w2": 0.5},
        **options,
    )
    expected, _, _ = numpy_adamw(
        weights,
        gradient_steps,
        [0.01] * 4,
        0.3,
        [i not in exclude for i in range(4)],
        multipliers=[10.0, 1.0, 0.5, 1.0],
    )
    for got, want in zip(result, expected):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    restored = AdamW.from_config(optimizer.get_config())
    assert restored.learning_rate_multipliers == {"w0": 10.0, "w2": 0.5}


def test_bad_learning_rate_multipliers_are_explained():
    with pytest.raises(
        ValueError, match="`learning_rate_multipliers` must map variable paths .* got 'w0': 0"
    ):
        AdamW(learning_rate_multipliers={"w0": 0})
    with pytest.raises(
        ValueError, match="`learning_rate_multipliers` must map variable paths .* got 3: 2.0"
    ):
        AdamW(learning_rate_multipliers={3: 2.0})


def test_serializes_as_itself():
    optimizer = AdamW(learning_rate=0.01, weight_decay=0.2, beta_2=0.95)
    restored = AdamW.from_config(optimizer.get_config())
    assert isinstance(restored, AdamW)
    assert restored.get_config() == optimizer.get_config()


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the fused kernel is PyTorch's")
def test_torch_takes_the_fused_path(rng, monkeypatch):
    from keras_siglip import optimizers

    calls = []
    fused = optimizers._torch_fused_update
    monkeypatch.setattr(
        optimizers, "_torch_fused_update", lambda *args: calls.append(1) or fused(*args)
    )
    weights, gradient_steps = random_problem(rng, steps=2)
    run(
        AdamW,
        weights,
        gradient_steps,
        [],
        learning_rate=0.01,
        weight_decay=0.1,
        global_clipnorm=1.0,
    )
    assert len(calls) == 2
    run(AdamW, weights, gradient_steps, [], learning_rate=0.01, weight_decay=0.1, clipvalue=1.0)
    assert len(calls) == 2, "clipvalue is not fused: Keras' update must run"


def test_deserializes_by_registered_name():
    optimizer = AdamW(learning_rate=0.01, weight_decay=0.2)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, AdamW)
