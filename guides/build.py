"""Build the guide notebooks from their sources and run them.

Each guide's source is a plain script in `guides/src/` (jupytext "percent" format:
`# %%` starts a code cell, `# %% [markdown]` a prose cell), which is what to edit and
review. This script turns a source into `guides/<name>.ipynb` and executes it top to
bottom in a fresh Jupyter kernel, so the committed notebook carries the outputs of a
real run (less the C++ start-up lines of `NOISE_PATTERNS` that TensorFlow and XLA
write to stderr on a machine without a GPU).

A guide runs at one of two scales, read by the guide from the environment variable
`KERAS_SIGLIP_GUIDE_SCALE`:

- `full` (the default): the run whose outputs are committed, what a reader sees.
- `ci`: the same code on fewer steps and smaller sizes, so the test suite can execute
  every guide end to end in minutes (`tests/test_guides.py`). Its outputs are thrown
  away.

Usage:

    python guides/build.py                     # every guide, full scale, writes guides/*.ipynb
    python guides/build.py 02_training_from_scratch
    python guides/build.py --scale ci --output-dir /tmp/guides   # a quick check
    python guides/build.py --prose-only 04_distributed_training  # markdown edits only

`--prose-only` copies the source's markdown cells into the committed notebook without
running anything, keeping the outputs of its last full run; it refuses when the code
cells differ from the source's, or when cells were added, removed or reordered.
"""

import argparse
import os
import sys
import time

GUIDES = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(GUIDES, "src")
SCALES = ("full", "ci")
SCALE_VARIABLE = "KERAS_SIGLIP_GUIDE_SCALE"


def guide_names():
    """The guides, sorted by name: one per `guides/src/*.py`."""
    return sorted(name[: -len(".py")] for name in os.listdir(SOURCES) if name.endswith(".py"))


def source_path(name):
    return os.path.join(SOURCES, f"{name}.py")


def notebook_path(name):
    return os.path.join(GUIDES, f"{name}.ipynb")


def read_source(name):
    """The guide's source as an (unexecuted) `nbformat` notebook."""
    import jupytext

    notebook = jupytext.read(source_path(name), fmt="py:percent")
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata.pop("jupytext", None)
    return notebook


# Lines that TensorFlow's and XLA's C++ start-up writes to the kernel's stderr on a
# machine without a GPU (before their logging is configured, so
# TF_CPP_MIN_LOG_LEVEL cannot silence them). They say nothing about the guide.
NOISE_PATTERNS = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    (
        r"[IWE]\d{4} [\d:.]+ +\d+ (cudart_stub|cuda_platform|cuda_executor|cpu_feature_guard|"
        r"cuda_dnn|cuda_fft|cuda_blas|computation_placer)\.cc:\d+\]"
    ),
    r"To enable the following instructions: .* in other operations, rebuild TensorFlow",
    r"All log messages before absl::InitializeLog",
    # On CPUs with AVX-512 (TensorFlow 2.21 turns oneDNN on there):
    r"[IWE]\d{4} [\d:.]+ +\d+ port\.cc:\d+\] oneDNN custom operations are on",
    r"oneDNN supports DT_\w+ only on platforms with AVX-512",
)


def strip_library_noise(notebook):
    """Drop the C++ start-up lines of `NOISE_PATTERNS` from stderr outputs, in place.

    Only whole lines of stderr `stream` outputs that match are removed; an output
    left empty is dropped. Returns the number of lines removed.
    """
    import re

    pattern = re.compile("|".join(f"(?:{p})" for p in NOISE_PATTERNS))
    removed = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept_outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = output["text"].splitlines(keepends=True)
                kept = [line for line in lines if not pattern.search(line)]
                removed += len(lines) - len(kept)
                if not kept:
                    continue
                output["text"] = "".join(kept)
            kept_outputs.append(output)
        cell["outputs"] = kept_outputs
    return removed


def execute(name, scale="full", timeout=1800, backend="jax"):
    """Run guide `name` at `scale` in a fresh kernel; returns the executed notebook.

    The kernel starts in `guides/`, with `KERAS_SIGLIP_GUIDE_SCALE=scale` and
    `KERAS_BACKEND=backend` in its environment. A cell that raises stops the run
    with `nbclient.exceptions.CellExecutionError`, which shows the cell and the
    traceback.
    """
    import nbclient

    if scale not in SCALES:
        raise ValueError(f"`scale` must be one of {SCALES}; got {scale!r}.")
    notebook = read_source(name)
    saved = {key: os.environ.get(key) for key in (SCALE_VARIABLE, "KERAS_BACKEND")}
    os.environ[SCALE_VARIABLE] = scale
    os.environ["KERAS_BACKEND"] = backend
    try:
        client = nbclient.NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": GUIDES}},
        )
        client.execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook


def with_source_prose(committed, source):
    """`committed` with its markdown cells replaced by `source`'s, in place.

    Args:
        committed: an executed notebook (`nbformat`), e.g. `guides/<name>.ipynb`.
        source: the guide's source as a notebook (`read_source`).

    Returns:
        The number of markdown cells whose text changed.

    Raises:
        ValueError: if the two differ in anything but markdown text: the number,
            kinds or order of their cells, or the source of a code cell. Those
            changes need a run (`build.py NAME`).
    """
    kinds = [cell.cell_type for cell in committed.cells]
    source_kinds = [cell.cell_type for cell in source.cells]
    if kinds != source_kinds:
        raise ValueError(
            f"`committed` has cells {kinds} but the source has {source_kinds}; "
            "added, removed or reordered cells need a run, not `--prose-only`."
        )
    pairs = list(zip(committed.cells, source.cells))
    for index, (cell, new) in enumerate(pairs):
        if cell.cell_type == "code" and cell.source.strip() != new.source.strip():
            raise ValueError(
                f"code cell {index} differs from the source's; changed code needs a "
                "run, not `--prose-only`."
            )
    changed = 0
    for cell, new in pairs:
        if cell.cell_type == "markdown" and cell.source != new.source:
            cell.source = new.source
            changed += 1
    return changed


def write_notebook(notebook, path):
    """Write `notebook` to `path` through a temporary sibling, so a failed write
    leaves the previous notebook whole."""
    import nbformat

    temporary = f"{path}.tmp{os.getpid()}"
    try:
        nbformat.write(notebook, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def main():
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="guides to build (default: all)")
    parser.add_argument("--scale", choices=SCALES, default="full")
    parser.add_argument(
        "--output-dir",
        default=GUIDES,
        help="where to write the executed notebooks (default: guides/)",
    )
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument(
        "--prose-only",
        action="store_true",
        help="copy the sources' markdown cells into the notebooks without running them",
    )
    arguments = parser.parse_args()
    names = arguments.names or guide_names()
    unknown = sorted(set(names) - set(guide_names()))
    if unknown:
        parser.error(f"unknown guides {unknown}; the guides are {guide_names()}")
    os.makedirs(arguments.output_dir, exist_ok=True)
    for name in names:
        if arguments.prose_only:
            notebook = nbformat.read(notebook_path(name), as_version=4)
            try:
                changed = with_source_prose(notebook, read_source(name))
            except ValueError as error:
                parser.error(f"{name}: {error}")
            path = os.path.join(arguments.output_dir, f"{name}.ipynb")
            write_notebook(notebook, path)
            print(f"{name}: {changed} markdown cells updated in {path}", flush=True)
            continue
        start = time.perf_counter()
        print(f"{name}: running at {arguments.scale} scale ...", flush=True)
        notebook = execute(name, arguments.scale, arguments.timeout)
        strip_library_noise(notebook)
        path = os.path.join(arguments.output_dir, f"{name}.ipynb")
        write_notebook(notebook, path)
        print(f"{name}: wrote {path} in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
