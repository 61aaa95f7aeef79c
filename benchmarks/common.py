"""What the benchmark scripts share: the machine line printed under every table,
timing (the median of several runs), peak memory readings and Markdown tables.

The scripts run as `python benchmarks/NAME.py`, which puts this folder on
`sys.path`, so they import it as `common`.
"""

import datetime
import os
import platform
import resource
import statistics
import time
from importlib import metadata

# --- The machine line ------------------------------------------------------------


def cpu_name():
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def memory_gib():
    """Total RAM in GiB (Linux), or NaN."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def library_versions(libraries):
    """`"name version"` of each installed distribution, `"name missing"` otherwise."""
    versions = []
    for library in libraries:
        try:
            versions.append(f"{library} {metadata.version(library)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{library} missing")
    return versions


def machine_line(libraries=(), details=()):
    """One line that says where a table was measured: CPU, cores this process may
    use, RAM, load average, Python and `libraries` versions, `details` (strings the
    script adds, e.g. the backend or a measured matmul rate), date and time (UTC)."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"Machine: {cpu_name()}, {cores} cores, {memory_gib():.0f} GiB RAM, "
        f"load average {load} (1, 5, 15 min)",
        ", ".join([f"Python {platform.python_version()}", *library_versions(libraries)]),
        *details,
        date,
    ]
    return "; ".join(parts)


# --- Timing ----------------------------------------------------------------------


def time_calls(function, runs, warmup=1):
    """Seconds of each of `runs` calls of `function()`, after `warmup` untimed calls.

    `function` must wait for its result (read a value back) so that asynchronous
    backends are timed in full."""
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def median(values):
    """The median of `values`: every table reports the median of its runs."""
    return statistics.median(values)


# --- Memory (Linux) --------------------------------------------------------------


def _status_bytes(field):
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def resident_bytes():
    """This process's resident memory now."""
    return _status_bytes("VmRSS")


def reset_peak():
    """Sets the peak of `peak_resident_bytes` back to the resident memory now."""
    # Writing 5 resets the kernel's peak RSS (VmHWM) to the current RSS.
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")


def peak_resident_bytes():
    """This process's peak resident memory since it started or `reset_peak`."""
    return _status_bytes("VmHWM")


def peak_rss_gib():
    """This process's peak resident memory since it started, in GiB (no reset)."""
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def available_memory_bytes():
    """Memory available to new allocations (Linux's MemAvailable), or 0."""
    with open("/proc/meminfo") as file:
        for line in file:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


# --- Tables ----------------------------------------------------------------------


def markdown_table(header, rows, right_aligned_from=None):
    """A Markdown table: `header` a list of column names, `rows` lists of cells;
    columns from index `right_aligned_from` on are right-aligned (numbers)."""
    first = len(header) if right_aligned_from is None else right_aligned_from
    rule = ["---"] * first + ["---:"] * (len(header) - first)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
