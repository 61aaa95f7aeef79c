"""Input pipeline throughput: pairs per second from tar shards and TFRecord files,
against the rate at which a small SigLIP consumes pairs in `fit`.

The corpus: `--samples` JPEG photos (quality 90, `--source-size` px square: random
crops of scikit-learn's two sample photographs, so that the JPEG content is
photographic rather than flat artwork) with made-up captions of 8 to 14 words, written
by `keras_siglip.data.write_webdataset` and `write_tfrecord` in shards of 256. The
pipeline (`webdataset_corpus`, `tfrecord_corpus`: read, shuffle buffer of 1,000,
decode, squash resize with antialiasing, SentencePiece tokenisation to 64 tokens,
batch of `--batch-size`) is timed two ways, median of `--repeats` each: whole passes
after one warm-up pass (each pass starts the pipeline anew: fills the shuffle buffer,
ramps up the parallel stages, drains them at the end), and a stream, as `fit` reads a
repeating pipeline (`repeat=True`): one iterator, a pass's worth of batches as warm-up,
then timed blocks of a pass's worth. The process's CPU time per pair is printed too
(on `n` free cores the rate is at most `n * 1000 / CPU ms`).
A third corpus holds the same photos stored at the model's size.

The model: `SigLIP.from_variant(variant)` with AdamW, trained by `fit` on one batch
held in memory (its own consumption rate, median step time after warm-up), then on
the tar pipeline (total time of the timed steps): if the second rate matches the
first, the pipeline is not the bottleneck. Both share the machine's cores with the
pipeline's threads.

    python benchmarks/input_pipeline.py                        # 224 px, Nano/16
    python benchmarks/input_pipeline.py --processes 2 --skip-model   # as 2 hosts would read
    python benchmarks/input_pipeline.py --image-size 32 --variant Nano/8 --source-size 64

`--processes N` adds a row per format for N processes started together, each reading
its own share of the shards (`shard=(index, N)`, as N hosts would): the pairs all of
them read over the slowest one's time. One process runs its tf.data stages on threads
that share a Python interpreter (tar shards are read by Python generators); separate
processes share nothing but the cores.

TensorFlow's default CPU allocator takes every large tensor (a decoded or resized
image) from the system's `malloc`; `TF_CPU_ALLOCATOR_USE_BFC=true` in the environment
(set before TensorFlow starts) makes it reuse its own arena instead, which the machine
line reports.

Prints a Markdown table and a line describing the machine with its load average.
Times are measurements, never assertions.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from keras_siglip import SigLIP  # noqa: E402
from keras_siglip.data import tfrecord_corpus, webdataset_corpus, write_tfrecord, write_webdataset  # noqa: E402
from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer, train_sentencepiece  # noqa: E402

LIBRARIES = ("keras", "jax", "tensorflow", "pillow")
WORDS = (
    "a photo of the small large red blue green old new dog cat bird house tree car street "
    "flower garden mountain river city at night in winter summer with two three people "
    "sitting on bench near window under sky beside lake painting close up view"
).split()


def photos(count, size, rng):
    """Random square crops of scikit-learn's sample photos, resized to `size`."""
    from sklearn.datasets import load_sample_images

    sources = load_sample_images().images
    images = np.empty((count, size, size, 3), np.uint8)
    for index in range(count):
        source = sources[index % len(sources)]
        side = int(rng.integers(160, min(source.shape[:2]) + 1))
        top = int(rng.integers(0, source.shape[0] - side + 1))
        left = int(rng.integers(0, source.shape[1] - side + 1))
        crop = Image.fromarray(source[top : top + side, left : left + side]).resize(
            (size, size), Image.BICUBIC
        )
        images[index] = np.asarray(crop)[:, :: 1 if index % 2 else -1]
    return images


def captions(count, rng):
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(8, 15)))) for _ in range(count)]


def time_passes(dataset, repeats):
    """Pairs per second of whole passes over `dataset` after one warm-up pass (median),
    and the process's CPU milliseconds per pair (all threads; median)."""
    sum(len(batch["token_ids"]) for batch in dataset)
    results = []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        pairs = sum(len(batch["token_ids"]) for batch in dataset)
        results.append((pairs, time.perf_counter() - start, time.process_time() - start_cpu))
    return _median_rates([[result] for result in results])


def time_stream(dataset, batches, repeats):
    """The same over a repeating `dataset` (`repeat=True`, as `fit` reads it): one
    iterator, `batches` batches of warm-up, then `repeats` timed blocks of `batches`.
    Unlike whole passes, no block pays for starting the pipeline (filling the
    shuffle buffer, the parallel stages' ramp-up) or for draining it."""
    iterator = iter(dataset)
    for _ in range(batches):
        next(iterator)
    results = []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        pairs = sum(len(next(iterator)["token_ids"]) for _ in range(batches))
        results.append((pairs, time.perf_counter() - start, time.process_time() - start_cpu))
    return _median_rates([[result] for result in results])


def _median_rates(blocks):
    """`blocks`: per timed block, `(pairs, seconds, CPU seconds)` of each process.
    Median over blocks of all pairs over the slowest process's time, and of CPU ms
    per pair."""
    rates, cpu = [], []
    for processes in blocks:
        pairs = sum(p for p, _, _ in processes)
        rates.append(pairs / max(seconds for _, seconds, _ in processes))
        cpu.append(1000 * sum(c for _, _, c in processes) / pairs)
    return common.median(rates), common.median(cpu), pairs


def _shard_passes(
    function_name,
    files,
    tokenizer_proto,
    image_size,
    sequence_length,
    batch_size,
    repeats,
    stream,
    index,
    count,
    queue,
    go,
):
    """One process of a `--processes` run: time passes (or stream blocks) over its
    shard, report to `queue`."""
    try:
        import keras_siglip.data as data
        from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer

        tokenizer = SigLIPTokenizer(tokenizer_proto, sequence_length)
        preprocessor = SigLIPPreprocessor(tokenizer, image_size=image_size)
        dataset = getattr(data, function_name)(
            files, preprocessor, batch_size, seed=0, shard=(index, count), repeat=bool(stream)
        )
        if stream:
            iterator = iter(dataset)
            batches = lambda: (next(iterator) for _ in range(stream))  # noqa: E731
        else:
            batches = lambda: iter(dataset)  # noqa: E731
        sum(len(batch["token_ids"]) for batch in batches())
    except Exception as error:  # reported by the parent, which would wait forever otherwise
        queue.put(f"process {index}: {type(error).__name__}: {error}")
        return
    queue.put("ready")
    go.wait()
    results = []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        pairs = sum(len(batch["token_ids"]) for batch in batches())
        results.append((pairs, time.perf_counter() - start, time.process_time() - start_cpu))
    queue.put(results)


def time_processes(function_name, files, args, tokenizer_proto, stream=0):
    """Pairs per second of `args.processes` processes reading their shards at once
    (median over passes, or over blocks of `stream` batches of a repeating pipeline,
    of all their pairs over the slowest one's time), and CPU ms per pair."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue, go = context.Queue(), context.Event()
    workers = [
        context.Process(
            target=_shard_passes,
            args=(
                function_name,
                files,
                tokenizer_proto,
                args.image_size,
                args.sequence_length,
                args.batch_size,
                args.repeats,
                stream,
                index,
                args.processes,
                queue,
                go,
            ),
        )
        for index in range(args.processes)
    ]
    for worker in workers:
        worker.start()
    # Every warm-up pass first, so that no process times its passes while another warms up.
    failures = [message for message in [queue.get() for _ in workers] if message != "ready"]
    go.set()
    if failures:
        for worker in workers:
            worker.join()
        raise RuntimeError("; ".join(failures))
    results = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    return _median_rates(list(zip(*results)))


class StepTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])  # waits for the step
        self.times.append(time.perf_counter() - self.start)


def model_rates(args, preprocessor, shards):
    """Pairs per second of `fit` on a batch in memory, and on the tar pipeline."""
    import tensorflow as tf

    model = SigLIP.from_variant(
        args.variant,
        image_size=args.image_size,
        sequence_length=preprocessor.sequence_length,
        vocabulary_size=preprocessor.tokenizer.vocabulary_size,
    )
    model.compile()
    pipeline = webdataset_corpus(shards, preprocessor, args.batch_size, repeat=True, seed=0)
    batch = next(iter(pipeline))
    in_memory = tf.data.Dataset.from_tensors(batch).repeat()
    timer = StepTimes()
    model.fit(
        in_memory, steps_per_epoch=args.warmup + args.steps, epochs=1, verbose=0, callbacks=[timer]
    )
    memory_rate = args.batch_size / common.median(timer.times[args.warmup :])
    timer = StepTimes()
    model.fit(pipeline, steps_per_epoch=args.warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(pipeline, steps_per_epoch=args.steps, epochs=1, verbose=0, callbacks=[timer])
    pipeline_rate = args.batch_size * args.steps / (time.perf_counter() - start)
    return model.count_params(), memory_rate, pipeline_rate


def _cells(result):
    rate, cpu_ms, _ = result
    return f"{rate:,.0f}", f"{cpu_ms:.2f}"


def _report(row):
    _, pass_rate, pass_cpu, stream_rate, stream_cpu = row
    return (
        f"whole passes {pass_rate} pairs/s, {pass_cpu} CPU ms/pair; "
        f"stream {stream_rate} pairs/s, {stream_cpu} CPU ms/pair"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2048, help="pairs in the corpus")
    parser.add_argument("--source-size", type=int, default=256, help="side of the stored JPEGs")
    parser.add_argument("--image-size", type=int, default=224, help="side of the model's images")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument(
        "--variant", default="Nano/16", help="the model whose consumption rate is measured"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed passes over the corpus (and stream blocks of a pass's worth)",
    )
    parser.add_argument("--steps", type=int, default=8, help="timed fit steps")
    parser.add_argument(
        "--warmup", type=int, default=2, help="fit steps before timing (compilation)"
    )
    parser.add_argument("--skip-model", action="store_true", help="time the pipeline only")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="also time this many processes reading their shards at once",
    )
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    texts = captions(args.samples, rng)
    images = photos(args.samples, args.source_size, rng)
    tokenizer = SigLIPTokenizer(
        train_sentencepiece(texts, 200, hard_vocab_limit=False), args.sequence_length
    )
    preprocessor = SigLIPPreprocessor(tokenizer, image_size=args.image_size)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        shards = write_webdataset(
            os.path.join(folder, "tar"), images, texts, samples_per_shard=256, quality=90
        )
        records = write_tfrecord(
            os.path.join(folder, "tfrecord"), images, texts, samples_per_file=256, quality=90
        )
        megabytes = sum(os.path.getsize(path) for path in shards) / 2**20
        print(
            f"Corpus: {args.samples} JPEGs of {args.source_size} px, "
            f"{megabytes:.1f} MiB of tar shards.",
            flush=True,
        )
        corpora = [
            (
                f"tar shards (webdataset_corpus), {args.source_size} px JPEGs",
                webdataset_corpus,
                shards,
            ),
            (f"TFRecord (tfrecord_corpus), {args.source_size} px JPEGs", tfrecord_corpus, records),
        ]
        if args.source_size != args.image_size:
            resized = np.stack(
                [
                    np.asarray(Image.fromarray(image).resize((args.image_size,) * 2, Image.BICUBIC))
                    for image in images
                ]
            )
            stored = write_webdataset(
                os.path.join(folder, "tar_resized"),
                resized,
                texts,
                samples_per_shard=256,
                quality=90,
            )
            corpora.append(
                (f"tar shards, JPEGs stored at {args.image_size} px", webdataset_corpus, stored)
            )
        batches = args.samples // args.batch_size  # a pass's worth per stream block
        for name, function, files in corpora:
            dataset = function(files, preprocessor, args.batch_size, seed=0)
            passes = time_passes(dataset, args.repeats)
            stream = function(files, preprocessor, args.batch_size, seed=0, repeat=True)
            rows.append(
                (name, *_cells(passes), *_cells(time_stream(stream, batches, args.repeats)))
            )
            print(f"  {name}: {_report(rows[-1])}", flush=True)
            if args.processes > 1:
                name = f"{name}, {args.processes} processes (one shard each)"
                passes = time_processes(function.__name__, files, args, tokenizer.proto)
                stream = time_processes(
                    function.__name__, files, args, tokenizer.proto, batches // args.processes
                )
                rows.append((name, *_cells(passes), *_cells(stream)))
                print(f"  {name}: {_report(rows[-1])}", flush=True)
        if not args.skip_model:
            parameters, memory_rate, pipeline_rate = model_rates(args, preprocessor, shards)
            rows.append(
                (
                    f"{args.variant} `fit`, one batch in memory ({parameters:,} parameters)",
                    "",
                    "",
                    f"{memory_rate:,.0f}",
                    "",
                )
            )
            rows.append(
                (f"{args.variant} `fit` on the tar pipeline", "", "", f"{pipeline_rate:,.0f}", "")
            )

    print(
        f"\n{args.source_size} px JPEG -> {args.image_size} px, {args.sequence_length} tokens, "
        f"batch {args.batch_size}\n"
    )
    header = [
        "stage",
        "whole passes: pairs / s",
        "CPU ms / pair",
        "stream (`repeat=True`): pairs / s",
        "CPU ms / pair",
    ]
    print(common.markdown_table(header, rows, right_aligned_from=1))
    print()
    use_bfc = os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower() in ("1", "true")
    details = [
        f"backend {keras.backend.backend()}",
        f"TensorFlow CPU allocator {'BFC' if use_bfc else 'default'}",
    ]
    print(common.machine_line(LIBRARIES, details))


if __name__ == "__main__":
    main()
