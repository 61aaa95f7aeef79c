"""keras_siglip.distribution and the ring sigmoid loss on 8 simulated CPU devices.

JAX fixes its device count when it starts, so the checks run once, in a child
process with `--xla_force_host_platform_device_count=8` (`distribution_checks.py`),
and these tests assert on what it reports. JAX only: the distribution API and the
ring are JAX features here.
"""

import json
import os
import subprocess
import sys

import keras
import pytest

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="keras.distribution and the ring loss are JAX-only"
)

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
SHARDED = {
    r"attention/(query|key|value)/kernel": [None, "model"],
    r"attention/(query|key|value)/bias": ["model"],
    r"attention/output/kernel": ["model", None],
    r"mlp/expand/kernel": [None, "model"],
    r"mlp/expand/bias": ["model"],
    r"mlp/contract/kernel": ["model", None],
    r"token_embedding/embeddings": ["model", None],
}


@pytest.fixture(scope="module")
def results():
    environment = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    environment.pop("XLA_FLAGS", None)
    completed = subprocess.run(
        [sys.executable, os.path.join(TESTS, "distribution_checks.py")],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULTS ")]
    assert completed.returncode == 0 and lines, completed.stderr[-5000:]
    return json.loads(lines[-1][len("RESULTS ") :])


def test_ring_loss_matches_single_device_dense_loss(results):
    cases = results["ring"]
    assert {case["per_device"] for case in cases} == {1, 2, 5}
    assert {case["bidirectional"] for case in cases} == {False, True}
    for case in cases:
        assert case["value_error"] < 1e-5, case
        assert case["value_only_error"] < 1e-5, case
        # Gradients for the images, the texts, log_temperature and bias.
        assert len(case["gradient_errors"]) == 4
        assert max(case["gradient_errors"]) < 1e-5, case


def test_ring_passes_texts_round_the_ring_and_gathers_nothing(results):
    assert results["collectives"]["ring"] == {"collective_permute": True, "all_gather": False}
    # The same loss forced dense on sharded embeddings gathers them: the check sees it.
    assert results["collectives"]["dense"]["all_gather"]


@pytest.mark.parametrize("distribution", ["data_parallel", "model_parallel"])
def test_fit_under_distribution_reproduces_single_device_losses(results, distribution):
    fit = results["fit"]
    assert fit[f"{distribution}_ring"]
    reference = fit["single_device"]
    assert len(reference) == 3 and reference[0] > reference[-1]
    for got, expected in zip(fit[distribution], reference):
        assert abs(got - expected) <= 1e-4 * abs(expected), (fit[distribution], reference)


def test_model_parallel_shards_variables_as_the_layout_map_says(results):
    import re

    layouts = results["fit"]["model_parallel_layouts"]
    matched = set()
    for layout in layouts:
        rules = [rule for rule in SHARDED if re.search(rule + "$", layout["path"])]
        expected = SHARDED[rules[0]] if rules else [None] * len(layout["shape"])
        assert layout["spec"] == expected, layout
        shard_shape = [
            size // 4 if axis == "model" else size for size, axis in zip(layout["shape"], expected)
        ]
        assert layout["shard_shape"] == shard_shape, layout
        matched.update(rules)
    assert matched == set(SHARDED)
    # Both towers' blocks: 2 towers x 2 blocks of query kernels, plus the MAP head's.
    queries = [layout for layout in layouts if layout["path"].endswith("attention/query/kernel")]
    assert len(queries) == 5


def test_dead_layout_rule_raises(results):
    assert "'.*no_such_layer/kernel' matches none of the model's" in results["errors"]["dead_rule"]


def test_model_built_outside_the_scope_is_a_clear_error(results):
    message = results["errors"]["outside_scope"]
    assert "the model was built outside the distribution's scope" in message


def test_helpers_validate_their_arguments():
    from keras_siglip import distribution

    with pytest.raises(ValueError, match=r"`mesh_shape` must be \(batch, model\)"):
        distribution.model_parallel(mesh_shape=(3, 5))
    mesh = keras.distribution.DeviceMesh((1,), ["batch"], keras.distribution.list_devices()[:1])
    with pytest.raises(ValueError, match="`model_axis` 'model' is not an axis"):
        distribution.model_parallel_layout_map(mesh)


def test_ring_needs_a_distribution():
    import numpy as np

    from keras_siglip import losses

    x = np.eye(4, 8, dtype="float32")
    with pytest.raises(ValueError, match="`ring=True` needs the JAX backend and an active"):
        losses.sigmoid_loss(x, x, 0.0, 0.0, ring=True)
    with pytest.raises(ValueError, match="`ring` must be None"):
        losses.SigmoidLoss(ring="yes")


def test_two_processes_compute_the_single_process_loss():
    """`keras.distribution.initialize` with 2 local processes x 4 CPU devices."""
    import socket

    with socket.socket() as probe:  # a free port for this run's coordinator
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    environment.pop("XLA_FLAGS", None)
    processes = [
        subprocess.Popen(
            [sys.executable, os.path.join(TESTS, "multihost_checks.py"), str(rank), str(port)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=300))
    finally:
        # A process whose peer died waits for the heartbeat timeout: stop it.
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    reports = []
    for process, (stdout, stderr) in zip(processes, outputs):
        lines = [line for line in stdout.splitlines() if line.startswith("RESULTS ")]
        assert process.returncode == 0 and lines, stderr[-5000:]
        reports.append(json.loads(lines[-1][len("RESULTS ") :]))
    assert [report["process_id"] for report in reports] == [0, 1]
    for report in reports:
        assert report["process_count"] == 2
        assert (report["devices"], report["local_devices"]) == (8, 4)
        assert report["value_error"] < 1e-5, report
        assert max(report["gradient_errors"]) < 1e-5, report
    assert reports[0]["value"] == reports[1]["value"]
