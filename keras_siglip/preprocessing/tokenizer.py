"""`SigLIPTokenizer`: SentencePiece with SigLIP's text rules, and vocabulary training.

SigLIP's text tower pools the last position, so every text must end in the EOS
token at a fixed position: canonicalise (lower-case, drop ASCII punctuation,
collapse whitespace), tokenise, append EOS, keep EOS last on truncation and pad
with the pad id (by default the EOS id: "sticky EOS") to exactly `sequence_length`.
One TensorFlow implementation serves eager calls and `tf.data` pipelines.
"""

import io
import os
import re
import string

import numpy as np
import sentencepiece
import tensorflow as tf
import tensorflow_text

from keras_siglip.validation import check_positive_int

VOCABULARY_FILENAME = "vocabulary.spm"

# Python's `str.isspace` characters, listed so that the Python and the TensorFlow
# (RE2, whose `\s` is ASCII only) canonicalisations collapse exactly the same ones.
_WHITESPACE_RANGES = (
    (0x09, 0x0D),
    (0x1C, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)
# The pure-Python lower-casing must match TensorFlow's, whose ICU 69 knows Unicode
# 13.0, while Python 3.11 knows 14.0. Comparing the two on every code point (as the
# tests do) finds two kinds of difference:
# - characters that TensorFlow does not know: it leaves them as they are, and
#   they end the context of a final sigma; the Python side lower-cases the text
#   between them;
# - U+1734, case-ignorable (a nonspacing mark) in Unicode 13 only: the Python side
#   lower-cases the text without it.
_UNKNOWN_TO_TENSORFLOW_RANGES = (
    (0x888, 0x888),
    (0x890, 0x891),
    (0x898, 0x89F),
    (0x8C9, 0x8D2),
    (0xC3C, 0xC3C),
    (0x180F, 0x180F),
    (0x1AC1, 0x1ACE),
    (0x1DFA, 0x1DFA),
    (0x2C2F, 0x2C2F),
    (0x2C5F, 0x2C5F),
    (0xA7C0, 0xA7C1),
    (0xA7D0, 0xA7D1),
    (0xA7D3, 0xA7D3),
    (0xA7D5, 0xA7D9),
    (0xA7F2, 0xA7F4),
    (0xFBC2, 0xFBC2),
    (0x10570, 0x1057A),
    (0x1057C, 0x1058A),
    (0x1058C, 0x10592),
    (0x10594, 0x10595),
    (0x10597, 0x105A1),
    (0x105A3, 0x105B1),
    (0x105B3, 0x105B9),
    (0x105BB, 0x105BC),
    (0x10780, 0x10785),
    (0x10787, 0x107B0),
    (0x107B2, 0x107BA),
    (0x10F82, 0x10F85),
    (0x11070, 0x11070),
    (0x11073, 0x11074),
    (0x110C2, 0x110C2),
    (0x1AFF0, 0x1AFF3),
    (0x1AFF5, 0x1AFFB),
    (0x1AFFD, 0x1AFFE),
    (0x1CF00, 0x1CF2D),
    (0x1CF30, 0x1CF46),
    (0x1DF00, 0x1DF09),
    (0x1DF0B, 0x1DF1E),
    (0x1E2AE, 0x1E2AE),
)
_CASE_IGNORABLE_FOR_TENSORFLOW_ONLY = "\u1734"


def _python_class(ranges):
    return "[" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges) + "]"


def _re2_class(ranges):
    return "[" + "".join(f"\\x{{{low:x}}}-\\x{{{high:x}}}" for low, high in ranges) + "]"


_PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "]+")
_WHITESPACE_RUN = re.compile(_python_class(_WHITESPACE_RANGES) + "+")
_UNKNOWN_TO_TENSORFLOW = re.compile("(" + _python_class(_UNKNOWN_TO_TENSORFLOW_RANGES) + ")")
_RE2_PUNCTUATION = "[" + "".join("\\" + character for character in string.punctuation) + "]"
_RE2_WHITESPACE_RUN = _re2_class(_WHITESPACE_RANGES) + "+"


def _lower(text):
    segments = text.split(_CASE_IGNORABLE_FOR_TENSORFLOW_ONLY)
    if len(segments) == 1:
        return _lower_known_to_tensorflow(text)
    # A case-ignorable character changes no other character's lower case, so
    # lower-case the text without it and put it back. Only final sigma depends on
    # context, and it is one character either way: each segment keeps the length
    # it has when lower-cased alone.
    lowered = _lower_known_to_tensorflow("".join(segments))
    pieces, start = [], 0
    for segment in segments:
        end = start + len(_lower_known_to_tensorflow(segment))
        pieces.append(lowered[start:end])
        start = end
    return _CASE_IGNORABLE_FOR_TENSORFLOW_ONLY.join(pieces)


def _lower_known_to_tensorflow(text):
    pieces = _UNKNOWN_TO_TENSORFLOW.split(text)
    # `split` with a group alternates text and separators: separators stay as they are.
    return "".join(piece if index % 2 else piece.lower() for index, piece in enumerate(pieces))


def canonicalize(text):
    """SigLIP's text canonicalisation, in pure Python.

    Lower-cases (Unicode aware), removes ASCII punctuation (`string.punctuation`,
    as big_vision does), collapses runs of whitespace into one space and strips
    the ends. NUL characters count as whitespace. It gives the same strings as the
    TensorFlow canonicalisation inside `SigLIPTokenizer`, which uses
    `tf.strings.lower(..., encoding="utf-8")`.

    Args:
        text: a string.

    Returns:
        The canonical string (possibly empty).

    Example:

    >>> canonicalize("  A Photo of\\tthe CAFÉ's   dog!  ")
    'a photo of the cafés dog'
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a string, got {type(text).__name__}: {text!r}.")
    text = _lower(text.replace("\x00", " "))
    text = _PUNCTUATION.sub("", text)
    return _WHITESPACE_RUN.sub(" ", text).strip(" ")


def _canonicalize_tensor(texts):
    # TensorFlow's lower-casing stops at a NUL, so NULs become spaces first.
    texts = tf.strings.regex_replace(texts, "\\x00", " ")
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, _RE2_PUNCTUATION, "")
    texts = tf.strings.regex_replace(texts, _RE2_WHITESPACE_RUN, " ")
    return tf.strings.regex_replace(texts, "^ | $", "")


def _read_proto(proto):
    if isinstance(proto, (bytes, bytearray)):
        return bytes(proto)
    if isinstance(proto, (str, os.PathLike)):
        path = os.fspath(proto)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"`proto` names the SentencePiece model file {path!r}, which does not exist."
            )
        with open(path, "rb") as file:
            return file.read()
    raise TypeError(
        "`proto` must be the bytes of a serialized SentencePiece model or the path "
        f"of a `.model` file, got {type(proto).__name__}."
    )


class SigLIPTokenizer:
    """SentencePiece tokenisation with SigLIP's text rules, to fixed-length ids.

    Each text is canonicalised (see `canonicalize`), tokenised, followed by the
    EOS id, truncated so that EOS stays the last token and padded with `pad_id` to
    exactly `sequence_length`. Called eagerly on a string it returns a NumPy int32
    array of shape `(sequence_length,)`; on a list of strings, `(N,
    sequence_length)`. Inside `tf.data` (`dataset.map(tokenizer)`) it takes a
    scalar or 1-D `tf.string` tensor and returns int32 tensors of the same shapes;
    both ways give the same ids.

    Args:
        proto: a serialized SentencePiece model (bytes) or the path of a `.model`
            file. SigLIP's English vocabulary is a 32k T5-style one (pad 0, EOS 1).
        sequence_length: length of every output row; 64 for most SigLIP models,
            16 for So400m/14 at 224 px.
        canonicalize: whether to canonicalise the texts first (SigLIP does).
        pad_id: the id that fills a row after EOS; by default the EOS id.

    Example:

    >>> from keras_siglip.preprocessing import train_sentencepiece
    >>> corpus = [f"a photo of {n} {animal}s" for n in ("two", "three", "four")
    ...           for animal in ("cat", "dog", "bird", "horse")]
    >>> tokenizer = SigLIPTokenizer(train_sentencepiece(corpus, 20), sequence_length=32)
    >>> ids = tokenizer(["A photo of two DOGS!", "a bird"])
    >>> ids.shape, ids.dtype
    ((2, 32), dtype('int32'))
    >>> int(ids[1, -1]) == tokenizer.eos_id == tokenizer.pad_id
    True
    >>> tokenizer.detokenize(ids)
    ['a photo of two dogs', 'a bird']
    """

    def __init__(self, proto, sequence_length=64, canonicalize=True, pad_id=None):
        check_positive_int("sequence_length", sequence_length)
        if not isinstance(canonicalize, bool):
            raise TypeError(f"`canonicalize` must be True or False, got {canonicalize!r}.")
        self._proto = _read_proto(proto)
        processor = sentencepiece.SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(self._proto)
        except (RuntimeError, OSError) as error:
            raise ValueError(
                f"`proto` is not a serialized SentencePiece model ({error})."
            ) from None
        self._processor = processor
        self._eos_id = processor.eos_id()
        if self._eos_id < 0:
            raise ValueError(
                "`proto` has no EOS token, which SigLIP appends to every text; train "
                "the vocabulary with an `eos_id` (`train_sentencepiece` uses id 1)."
            )
        if pad_id is None:
            pad_id = self._eos_id
        if (
            isinstance(pad_id, bool)
            or not isinstance(pad_id, (int, np.integer))
            or not (0 <= pad_id < self.vocabulary_size)
        ):
            raise ValueError(
                f"`pad_id` must be an id in [0, {self.vocabulary_size}) or None (the EOS "
                f"id, {self._eos_id}), got {pad_id!r}."
            )
        self._pad_id = int(pad_id)
        self._sequence_length = sequence_length
        self._canonicalize = canonicalize
        # The SentencePiece op lives inside these graphs, not in eager mode: an
        # eager one is dropped, and its model with it, by every
        # `tf.random.set_seed` (which `keras.utils.set_random_seed` calls).
        self._tokenize_batch = tf.function(
            self._tokenize_graph,
            input_signature=[tf.TensorSpec([None], tf.string)],
            autograph=False,
        )
        self._detokenize_batch = tf.function(
            self._detokenize_graph,
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
            autograph=False,
        )

    # --- Properties -------------------------------------------------------------

    @property
    def vocabulary_size(self):
        return self._processor.get_piece_size()

    @property
    def eos_id(self):
        return self._eos_id

    @property
    def pad_id(self):
        return self._pad_id

    @property
    def sequence_length(self):
        return self._sequence_length

    @property
    def canonicalize(self):
        return self._canonicalize

    @property
    def proto(self):
        """The serialized SentencePiece model (bytes)."""
        return self._proto

    # --- Tokenisation -----------------------------------------------------------

    def __call__(self, texts):
        """Token ids of `texts`: see the class docstring."""
        if isinstance(texts, tf.Tensor) and not tf.executing_eagerly():
            return self._tokenize_symbolic(texts)
        strings, single = _strings_of(texts)
        encoded = tf.constant(
            [text.encode("utf-8") for text in strings], dtype=tf.string, shape=[len(strings)]
        )
        ids, num_pieces = self._tokenize_batch(encoded)
        for index in np.flatnonzero(num_pieces.numpy() == 0):
            where = "`texts`" if single else f"`texts[{index}]`"
            what = (
                "is empty after canonicalisation (lower-casing, removing punctuation "
                "and whitespace)"
                if self._canonicalize
                else "has no tokens"
            )
            raise ValueError(
                f"{where} {what}: {strings[index]!r}. Give each text at least one word."
            )
        ids = ids.numpy()
        return ids[0] if single else ids

    def _tokenize_symbolic(self, texts):
        if texts.dtype != tf.string:
            raise TypeError(f"`texts` must be a tf.string tensor, got dtype {texts.dtype.name}.")
        if texts.shape.rank not in (0, 1):
            raise ValueError(
                "`texts` must be a scalar or 1-D tf.string tensor (one text or a batch), "
                f"got shape {texts.shape}."
            )
        ids, _ = self._tokenize_batch(tf.reshape(texts, [-1]))
        return ids[0] if texts.shape.rank == 0 else ids

    def _sentencepiece(self):
        return tensorflow_text.SentencepieceTokenizer(model=self._proto, out_type=tf.int32)

    def _tokenize_graph(self, texts):
        """`(N,)` strings to `(N, sequence_length)` ids and the pieces per text."""
        if self._canonicalize:
            texts = _canonicalize_tensor(texts)
        pieces = self._sentencepiece().tokenize(texts)
        num_pieces = pieces.row_lengths()
        pieces = pieces[:, : self._sequence_length - 1]
        eos = tf.fill([pieces.nrows(), 1], tf.constant(self._eos_id, tf.int32))
        with_eos = tf.concat([pieces, tf.RaggedTensor.from_tensor(eos)], axis=1)
        ids = with_eos.to_tensor(default_value=self._pad_id, shape=[None, self._sequence_length])
        return ids, num_pieces

    def _detokenize_graph(self, ids):
        keep = tf.logical_and(ids != self._eos_id, ids != self._pad_id)
        return self._sentencepiece().detokenize(tf.ragged.boolean_mask(ids, keep))

    def detokenize(self, ids):
        """Text of token ids, without EOS and padding.

        Args:
            ids: `(sequence_length,)` or `(N, sequence_length)` ids (NumPy, list or
                tf tensor).

        Returns:
            A string for one row, a list of strings for a batch; a `tf.string`
            tensor when called on a symbolic tensor (inside `tf.data`).
        """
        symbolic = isinstance(ids, tf.Tensor) and not tf.executing_eagerly()
        ids = tf.convert_to_tensor(ids)
        if not ids.dtype.is_integer or ids.shape.rank not in (1, 2):
            raise ValueError(
                "`ids` must be integer token ids of shape (sequence_length,) or (N, "
                f"sequence_length), got dtype {ids.dtype.name} and shape {ids.shape}."
            )
        texts = self._detokenize_batch(tf.reshape(tf.cast(ids, tf.int32), [-1, tf.shape(ids)[-1]]))
        if ids.shape.rank == 1:
            texts = texts[0]
        if symbolic:
            return texts
        if ids.shape.rank == 1:
            return texts.numpy().decode("utf-8")
        return [text.decode("utf-8") for text in texts.numpy()]

    # --- Config and assets ------------------------------------------------------

    def get_config(self):
        """Everything but the vocabulary, which `save_assets` writes."""
        return {
            "sequence_length": self._sequence_length,
            "canonicalize": self._canonicalize,
            "pad_id": self._pad_id,
        }

    def save_assets(self, directory):
        """Writes the vocabulary to `directory/vocabulary.spm`."""
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, VOCABULARY_FILENAME), "wb") as file:
            file.write(self._proto)

    @classmethod
    def from_assets(cls, directory, config=None):
        """A tokenizer from `directory/vocabulary.spm` and a `get_config()` dict.

        Raises:
            FileNotFoundError: the vocabulary file is missing.
            ValueError: it is not a SentencePiece model (the error names the file).
        """
        path = os.path.join(directory, VOCABULARY_FILENAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"The tokenizer vocabulary {path!r} does not exist.")
        with open(path, "rb") as file:
            proto = file.read()
        try:
            return cls(proto, **(config or {}))
        except ValueError as error:
            raise ValueError(f"Cannot load the tokenizer from {path!r}: {error}") from None

    @classmethod
    def from_preset(cls, preset):
        """The tokenizer that goes with a preset, in one line.

        The tokenizer of `SigLIPPreprocessor.from_preset(preset)`: `preset` is
        anything that takes (a preset directory, a transformers or keras-hub SigLIP
        directory, an `hf://` handle or hub id, a builtin preset with weights).
        """
        # The preprocessor owns the preset's files (and imports this module), so
        # its loader is the one place that reads them.
        from keras_siglip.preprocessing.preprocessor import SigLIPPreprocessor

        return SigLIPPreprocessor.from_preset(preset).tokenizer


def _strings_of(texts):
    """`(list of str, whether `texts` was one string)`, or a clear error."""
    if isinstance(texts, tf.Tensor):
        texts = texts.numpy()
        texts = texts.item() if texts.ndim == 0 else texts.tolist()
    elif isinstance(texts, np.ndarray):
        texts = texts.item() if texts.ndim == 0 else texts.tolist()
    single = isinstance(texts, (str, bytes))
    if single:
        texts = [texts]
    elif not isinstance(texts, (list, tuple)):
        raise TypeError(
            f"`texts` must be a string or a list of strings, got {type(texts).__name__}: {texts!r}."
        )
    strings = []
    for index, text in enumerate(texts):
        where = "`texts`" if single else f"`texts[{index}]`"
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{where} is bytes that are not UTF-8: {text!r}.") from None
        if not isinstance(text, str):
            raise TypeError(
                "`texts` must be a string or a list of strings; "
                f"{where} is {type(text).__name__}: {text!r}."
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{where} is not valid Unicode text (it has a lone surrogate): {text!r}."
            ) from None
        strings.append(text)
    return strings, single


# --- Vocabulary training --------------------------------------------------------

_T5_ID_LAYOUT = {"pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1}


def train_sentencepiece(
    corpus,
    vocabulary_size,
    model_type="unigram",
    canonicalize_corpus=True,
    **trainer_options,
):
    """Trains a SentencePiece vocabulary in memory, with SigLIP's T5-style ids.

    The ids are laid out as in SigLIP's vocabularies: pad 0, EOS 1, unknown 2, no
    BOS. Training is single-threaded, so the same corpus always gives the same
    bytes.

    Args:
        corpus: an iterable of strings (one sentence each), or the path of a text
            file with one sentence per line.
        vocabulary_size: number of pieces, the three special ones included.
        model_type: "unigram" (T5's), "bpe", "char" or "word".
        canonicalize_corpus: canonicalise each sentence first, with the rules the
            tokenizer applies (`canonicalize`); sentences left empty are skipped.
        **trainer_options: further `sentencepiece.SentencePieceTrainer` options,
            such as `character_coverage`; the id layout cannot be changed.

    Returns:
        The serialized model (bytes), for `SigLIPTokenizer(proto=...)`.

    Example:

    >>> proto = train_sentencepiece(["a cat", "a dog", "two cats"] * 5, 12)
    >>> SigLIPTokenizer(proto).vocabulary_size
    12
    """
    check_positive_int("vocabulary_size", vocabulary_size)
    fixed = sorted(set(trainer_options) & (set(_T5_ID_LAYOUT) | {"num_threads"}))
    if fixed:
        raise ValueError(
            f"`trainer_options` may not set {fixed}: the ids are SigLIP's (pad 0, EOS "
            "1, unknown 2, no BOS) and training is single-threaded to be deterministic."
        )
    sentences = []
    for index, sentence in enumerate(_corpus_lines(corpus)):
        if not isinstance(sentence, str):
            raise TypeError(
                "`corpus` must hold strings; item "
                f"{index} is {type(sentence).__name__}: {sentence!r}."
            )
        if canonicalize_corpus:
            sentence = canonicalize(sentence)
        if sentence.strip():
            sentences.append(sentence)
    if not sentences:
        raise ValueError("`corpus` has no text left after canonicalisation.")
    model = io.BytesIO()
    options = {"minloglevel": 2, **trainer_options}
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            vocab_size=vocabulary_size,
            model_type=model_type,
            num_threads=1,
            **_T5_ID_LAYOUT,
            **options,
        )
    except RuntimeError as error:
        # Drop SentencePiece's "INTERNAL: file.cc(line) [condition]" prefix.
        reason = str(error).split("] ", 1)[-1]
        raise ValueError(
            f"SentencePiece could not train a vocabulary of `vocabulary_size`="
            f"{vocabulary_size} with `model_type`={model_type!r}: {reason}"
        ) from None
    return model.getvalue()


def _corpus_lines(corpus):
    if isinstance(corpus, (str, os.PathLike)):
        path = os.fspath(corpus)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"`corpus` is a path, {path!r}, but no such file exists. Pass a list of "
                "strings to train on the strings themselves."
            )
        with open(path, encoding="utf-8") as file:
            yield from (line.rstrip("\n") for line in file)
        return
    try:
        iterator = iter(corpus)
    except TypeError:
        raise TypeError(
            "`corpus` must be an iterable of strings or the path of a text file, got "
            f"{type(corpus).__name__}."
        ) from None
    yield from iterator
