"""The guide notebooks: each runs end to end, and the committed notebook is its source.

Every guide in `guides/src/` is executed top to bottom in a fresh Jupyter kernel at
`ci` scale (`guides/build.py`), on the JAX backend, once per test-suite run (the
tests are skipped on the other backends: a guide's kernel picks its own backend).
The committed `guides/<name>.ipynb` must hold exactly the source's cells, every
code cell executed, and no error output, so what a reader sees came from running
the code they read.
"""

import importlib.util
import os

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_build():
    spec = importlib.util.spec_from_file_location(
        "guides_build", os.path.join(ROOT, "guides", "build.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()
GUIDES = build.guide_names()

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="guides run in their own kernel; the suite runs them once, with the JAX run",
)


def _cells(notebook):
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


@pytest.mark.parametrize("name", GUIDES)
def test_committed_notebook_is_the_executed_source(name):
    import nbformat

    path = build.notebook_path(name)
    assert os.path.exists(path), f"{path} is missing: run `python guides/build.py {name}`"
    committed = nbformat.read(path, as_version=4)
    assert _cells(committed) == _cells(build.read_source(name)), (
        f"{path} differs from guides/src/{name}.py: rebuild it with `python guides/build.py {name}`"
    )
    code_cells = [cell for cell in committed.cells if cell.cell_type == "code"]
    assert code_cells, f"{name} has no code"
    unexecuted = [index for index, cell in enumerate(code_cells) if cell.execution_count is None]
    assert not unexecuted, f"{name}: code cells {unexecuted} were not executed"
    counts = [cell.execution_count for cell in code_cells]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{name}: cells were not run once each, top to bottom (execution counts {counts})"
    )
    errors = [
        output for cell in code_cells for output in cell.outputs if output.output_type == "error"
    ]
    assert not errors, f"{name}: committed with an error output: {errors[0].get('ename')}"
    assert build.strip_library_noise(committed) == 0, (
        f"{name}: committed with TensorFlow/XLA start-up lines in its outputs: rebuild it"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", GUIDES)
def test_guide_runs_at_ci_scale(name):
    notebook = build.execute(name, scale="ci", timeout=900)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells)


def test_execute_rejects_an_unknown_scale():
    with pytest.raises(ValueError, match="`scale` must be one of"):
        build.execute(GUIDES[0] if GUIDES else "missing", scale="huge")


def test_strip_library_noise_removes_only_start_up_lines():
    import nbformat

    noise = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795775541.279978   26533 cudart_stub.cc:31] Could not find cuda drivers on "
        "your machine, GPU will not be used.\n"
        "E0000 00:00:1795775549.995396   26533 cuda_platform.cc:52] "
        "failed call to cuInit: INTERNAL\n"
        "I0000 00:00:1795840224.731355   25603 port.cc:153] "
        "oneDNN custom operations are on. You may see "
        "slightly different numerical results due to floating-point round-off errors.\n"
    )
    kept_warning = "UserWarning: the learning rate is large\n"
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import keras",
                outputs=[
                    nbformat.v4.new_output("stream", name="stderr", text=noise),
                    nbformat.v4.new_output("stream", name="stdout", text=noise),
                ],
            ),
            nbformat.v4.new_code_cell(
                "fit()",
                outputs=[
                    nbformat.v4.new_output("stream", name="stderr", text=noise + kept_warning)
                ],
            ),
            nbformat.v4.new_markdown_cell("I0000 cudart_stub.cc:31] prose is left alone"),
        ]
    )
    assert build.strip_library_noise(notebook) == 8
    first, second, prose = notebook.cells
    # An stderr output with nothing left goes; stdout is never touched.
    assert [output.name for output in first.outputs] == ["stdout"]
    assert first.outputs[0].text == noise
    assert [output.text for output in second.outputs] == [kept_warning]
    assert prose.source.startswith("I0000")
    assert build.strip_library_noise(notebook) == 0


def test_with_source_prose_copies_markdown_and_keeps_outputs():
    import nbformat

    output = nbformat.v4.new_output("stream", name="stdout", text="42\n")
    committed = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Old title"),
            nbformat.v4.new_code_cell("print(42)", execution_count=1, outputs=[output]),
            nbformat.v4.new_markdown_cell("unchanged"),
        ]
    )
    source = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# New title"),
            nbformat.v4.new_code_cell("print(42)\n"),
            nbformat.v4.new_markdown_cell("unchanged"),
        ]
    )
    assert build.with_source_prose(committed, source) == 1
    assert _cells(committed) == _cells(source)
    code = committed.cells[1]
    assert (code.execution_count, code.outputs[0].text) == (1, "42\n")


def test_with_source_prose_refuses_changed_code_or_cells():
    import nbformat

    def notebook(*cells):
        return nbformat.v4.new_notebook(cells=list(cells))

    committed = notebook(nbformat.v4.new_markdown_cell("a"), nbformat.v4.new_code_cell("x = 1"))
    with pytest.raises(ValueError, match="code cell 1 differs"):
        build.with_source_prose(
            committed,
            notebook(nbformat.v4.new_markdown_cell("b"), nbformat.v4.new_code_cell("x = 2")),
        )
    with pytest.raises(ValueError, match="added, removed or reordered"):
        build.with_source_prose(committed, notebook(nbformat.v4.new_markdown_cell("b")))
    # Nothing was copied before the refusal.
    assert committed.cells[0].source == "a"
