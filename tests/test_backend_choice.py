"""`import keras_siglip` after Keras with another backend warns once, naming it."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code, backend_env, keras_home):
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    env.update(backend_env)
    env["KERAS_HOME"] = str(keras_home)  # no user keras.json choosing a backend
    result = subprocess.run(
        [sys.executable, "-W", "always::UserWarning", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, [line for line in result.stderr.splitlines() if "UserWarning" in line]


CODE = "import keras\nimport keras_siglip\nimport keras_siglip\nprint(keras.backend.backend())"


@pytest.mark.slow
def test_keras_imported_first_with_another_backend_warns_once(tmp_path):
    stdout, warnings = run(CODE, {}, tmp_path)
    assert stdout.strip() == "tensorflow"
    assert len(warnings) == 1
    assert "uses the 'tensorflow' backend, not keras_siglip's default 'jax'" in warnings[0]
    assert "set KERAS_BACKEND" in warnings[0]


@pytest.mark.slow
def test_no_warning_when_the_backend_was_chosen_or_is_the_default(tmp_path):
    stdout, warnings = run(CODE, {"KERAS_BACKEND": "tensorflow"}, tmp_path)
    assert stdout.strip() == "tensorflow" and warnings == []
    stdout, warnings = run(
        "import keras_siglip, keras\nprint(keras.backend.backend())", {}, tmp_path
    )
    assert stdout.strip() == "jax" and warnings == []
