"""The README's examples run as written.

- Every ```python block is executed. Names of official presets (which would download
  weights) are replaced by a tiny preset made here with a real tokenizer, and the image
  files the examples name are written first, so the blocks run offline.
- Every `keras-siglip ...` line of a ```bash block is parsed by the CLI's own parser
  (an unknown command or flag fails the test). The commands that work on a preset and
  images (`classify`, `embed`, `search`, `presets`, `--version`) are also run end to end
  against the tiny preset; `train` and `convert` are run end to end by tests/test_cli.py.
"""

import os
import re
import shlex

import keras
import numpy as np
import pytest
from PIL import Image

from keras_siglip import SigLIP, SigLIPPreprocessor, SigLIPTokenizer, cli
from keras_siglip.preprocessing import train_sentencepiece

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
# Official presets the examples name; each is replaced by the tiny preset.
OFFICIAL_NAMES = r"siglip_base_patch16_224|google/siglip-base-patch16-224"
OFFICIAL_PRESET = re.compile(rf'"({OFFICIAL_NAMES})"')
# Commands run end to end here; the others are parsed only.
RUN_END_TO_END = ("classify", "embed", "search", "presets", "--version")


def readme():
    with open(README, encoding="utf-8") as handle:
        return handle.read()


def python_blocks():
    return re.findall(r"```python\n(.*?)```", readme(), flags=re.DOTALL)


def cli_commands():
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme(), flags=re.DOTALL):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("keras-siglip"):
                commands.append(line)
    return commands


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    """A Pico/8 preset with a SentencePiece tokenizer that knows the README's words."""
    keras.utils.set_random_seed(0)
    words = [
        "a photo of a cat",
        "this is a photo of a dog",
        "a bird in the sky",
        "a dog on a beach",
        "a cat on the grass",
        "birds and dogs and cats",
    ]
    tokenizer = SigLIPTokenizer(train_sentencepiece(words * 4, 24), sequence_length=8)
    model = SigLIP.from_variant(
        "Pico/8", image_size=16, sequence_length=8, vocabulary_size=tokenizer.vocabulary_size
    )
    path = str(tmp_path_factory.mktemp("readme") / "pico")
    model.save_to_preset(path, preprocessor=SigLIPPreprocessor(tokenizer, image_size=16))
    return path


def write_photos(folder):
    """The image files the README's examples name: photo1.jpg, photo2.jpg, photos/."""
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(folder, "photos"), exist_ok=True)
    for name in ("photo1.jpg", "photo2.jpg", "photos/beach.jpg", "photos/park.png"):
        pixels = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, name))


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_example_runs(index, tmp_path, monkeypatch, tiny_preset):
    monkeypatch.chdir(tmp_path)
    write_photos(tmp_path)
    code = python_blocks()[index].replace("/tmp/siglip.keras", str(tmp_path / "siglip.keras"))
    code = OFFICIAL_PRESET.sub(repr(tiny_preset), code)
    exec(compile(code, f"README.md example {index}", "exec"), {})


def test_readme_has_cli_commands():
    names = {shlex.split(command)[1] for command in cli_commands()}
    assert {"train", "classify", "embed", "search", "convert", "presets"} <= names


@pytest.mark.parametrize("command", cli_commands())
def test_readme_cli_command_parses_and_runs(command, tmp_path, monkeypatch, tiny_preset, capsys):
    arguments = shlex.split(command)[1:]
    monkeypatch.chdir(tmp_path)
    write_photos(tmp_path)
    parser = cli.build_parser()
    if arguments[0] not in RUN_END_TO_END:
        parser.parse_args(arguments)  # exits (fails the test) on an unknown flag
        return
    arguments = [tiny_preset if re.fullmatch(OFFICIAL_NAMES, word) else word for word in arguments]
    try:
        code = cli.main(arguments)
    except SystemExit as exit:  # --version exits through argparse
        code = exit.code
    assert code in (0, None), capsys.readouterr()
    output = capsys.readouterr().out
    assert output.strip(), f"`{command}` printed nothing"
