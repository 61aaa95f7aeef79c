"""Lint, then run the whole test suite once per Keras backend: jax, tensorflow, torch.

First `ruff check` and `ruff format --check` (configured in pyproject.toml); a lint
failure counts as a failure, and the tests still run.

A Keras process can only use one backend, so each backend gets its own pytest
process; the doctests of the package run once, on JAX. Prints one summary line per
backend and a closing `N passed, N failed` line; exits non-zero if anything failed.

    python tests/run_all_backends.py [extra pytest arguments]
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("jax", "tensorflow", "torch")


def run(backend, extra_arguments):
    arguments = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    if backend == "jax":
        arguments += ["--doctest-modules", "keras_siglip"]
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    print(f"=== {backend}: {' '.join(arguments[1:] + extra_arguments)}", flush=True)
    result = subprocess.run(
        arguments + extra_arguments, cwd=ROOT, env=environment, text=True, capture_output=True
    )
    sys.stdout.write(result.stdout[-20000:])
    sys.stderr.write(result.stderr[-5000:])
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    counts = {
        word: int(number)
        for number, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary)
    }
    return result.returncode, counts


def lint():
    """`ruff check` and `ruff format --check` over the repository; True when clean."""
    clean = True
    for command in (["check", "."], ["format", "--check", "."]):
        arguments = [sys.executable, "-m", "ruff", *command]
        print(f"=== lint: ruff {' '.join(command)}", flush=True)
        result = subprocess.run(arguments, cwd=ROOT, text=True, capture_output=True)
        sys.stdout.write(result.stdout[-10000:])
        sys.stderr.write(result.stderr[-5000:])
        clean = clean and result.returncode == 0
    return clean


def main():
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    failed_backends = [] if lint() else ["lint"]
    for backend in BACKENDS:
        code, counts = run(backend, sys.argv[1:])
        totals["passed"] += counts.get("passed", 0)
        totals["failed"] += (
            counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
        )
        totals["skipped"] += counts.get("skipped", 0)
        if code != 0:
            failed_backends.append(backend)
    print(f"backends with failures: {', '.join(failed_backends) or 'none'}")
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if failed_backends else 0


if __name__ == "__main__":
    sys.exit(main())
