"""`SigLIPTokenizer` and `train_sentencepiece`: SigLIP's text rules, eager and in tf.data."""

import io

import numpy as np
import pytest
import sentencepiece
import tensorflow as tf

from keras_siglip.preprocessing import SigLIPTokenizer, canonicalize, train_sentencepiece
from keras_siglip.preprocessing import tokenizer as tokenizer_module

SEQUENCE_LENGTH = 12
VOCABULARY_SIZE = 256


def generated_corpus(size=500, seed=0):
    """Captions over made-up words, with punctuation, capitals and non-ASCII words."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ra", "tu", "ne", "so", "vi", "pe", "da", "gri", "fo", "bel"]
    made_up = ["".join(rng.choice(syllables, size=rng.integers(2, 4))) for _ in range(300)]
    words = ["cat", "dog", "bird", "red", "blue", "café", "naïve", "straße", "ελιά", "σκύλος"]
    words += made_up
    templates = ["A photo of a {} {}.", "This is a picture of {} {}!", "{}, {}; seen from afar?"]
    return [templates[i % 3].format(*rng.choice(words, size=2)) for i in range(size)]


@pytest.fixture(scope="module")
def proto():
    return train_sentencepiece(generated_corpus(), VOCABULARY_SIZE)


@pytest.fixture(scope="module")
def tokenizer(proto):
    return SigLIPTokenizer(proto, sequence_length=SEQUENCE_LENGTH)


@pytest.fixture(scope="module")
def pieces(proto):
    """SentencePiece itself, the independent reference for the ids."""
    return sentencepiece.SentencePieceProcessor(model_proto=proto)


def expected_ids(pieces, text, length=SEQUENCE_LENGTH, pad_id=1):
    ids = pieces.encode(canonicalize(text))[: length - 1] + [1]
    return ids + [pad_id] * (length - len(ids))


# --- Vocabulary training ----------------------------------------------------------


def test_training_lays_out_ids_like_t5_and_is_deterministic(proto, pieces, tmp_path):
    assert pieces.get_piece_size() == VOCABULARY_SIZE
    assert [pieces.id_to_piece(i) for i in range(3)] == ["<pad>", "</s>", "<unk>"]
    assert (pieces.pad_id(), pieces.eos_id(), pieces.unk_id(), pieces.bos_id()) == (0, 1, 2, -1)
    assert train_sentencepiece(generated_corpus(), VOCABULARY_SIZE) == proto
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("\n".join(generated_corpus()) + "\n", encoding="utf-8")
    assert train_sentencepiece(corpus_file, VOCABULARY_SIZE) == proto
    assert train_sentencepiece(str(corpus_file), VOCABULARY_SIZE) == proto
    one_more = train_sentencepiece(generated_corpus() + ["zebras"], VOCABULARY_SIZE)
    assert one_more != proto


def test_training_canonicalises_the_corpus(pieces):
    vocabulary = {pieces.id_to_piece(i) for i in range(pieces.get_piece_size())}
    assert not any(any(c.isupper() or c in ".,;!?" for c in piece) for piece in vocabulary)
    bpe = train_sentencepiece(generated_corpus(), 100, model_type="bpe")
    assert sentencepiece.SentencePieceProcessor(model_proto=bpe).get_piece_size() == 100


def test_training_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match=r"`vocabulary_size`=5000 .*set it to a value <="):
        train_sentencepiece(generated_corpus(50), 5000)
    with pytest.raises(ValueError, match="`vocabulary_size` must be a positive integer, got 0"):
        train_sentencepiece(["a cat"], 0)
    with pytest.raises(ValueError, match="`corpus` has no text left after canonicalisation"):
        train_sentencepiece(["...", " ! "], 10)
    with pytest.raises(TypeError, match="`corpus` must hold strings; item 1 is int: 7"):
        train_sentencepiece(["a cat", 7], 10)
    with pytest.raises(FileNotFoundError, match="`corpus` is a path, '.*missing.txt'"):
        train_sentencepiece(tmp_path / "missing.txt", 10)
    with pytest.raises(ValueError, match=r"may not set \['eos_id', 'num_threads'\]"):
        train_sentencepiece(["a cat"], 10, eos_id=3, num_threads=4)


# --- Canonicalisation ---------------------------------------------------------------


def tensorflow_canonicalize(texts):
    canonical = tokenizer_module._canonicalize_tensor(tf.constant([t.encode() for t in texts]))
    return [text.decode("utf-8") for text in canonical.numpy()]


def test_canonicalize_lowercases_drops_punctuation_and_collapses_whitespace():
    assert canonicalize("  Hello,  WORLD!!\tIt's\n\u00a0a (test)...  ") == "hello world its a test"
    assert canonicalize("ÉTÉ À PARIS — CAFÉ «NOIR»") == "été à paris — café «noir»"
    assert canonicalize("STRASSE İSTANBUL ΟΔΟΣ ΣΟΦΟΣ.") == "strasse i̇stanbul οδος σοφος"
    assert canonicalize("ΟΔΟΣ")[-1] == "ς"  # final sigma
    assert canonicalize("a\x00b  ") == "a b"
    assert canonicalize("!?") == ""


def test_python_and_tensorflow_canonicalisation_agree_on_every_code_point():
    # Each code point between a cased letter and a capital sigma: this compares its
    # lower case, whether it is dropped or collapsed, and whether each side takes
    # it as cased or case-ignorable (which decides the final sigma). Digits, none
    # of these, keep the probes apart in one string: one call each way is fast.
    code_points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    probes = "".join(["x" + chr(c) + "Σ0" for c in code_points])
    if canonicalize(probes) != tensorflow_canonicalize([probes])[0]:
        texts = ["x" + chr(c) + "Σ" for c in code_points]
        ours, theirs = [canonicalize(text) for text in texts], tensorflow_canonicalize(texts)
        assert [hex(c) for c, a, b in zip(code_points, ours, theirs) if a != b] == []


def test_python_and_tensorflow_canonicalisation_agree_on_sentences():
    rng = np.random.default_rng(0)
    alphabet = list("aZ ΣσΟ.,!'\t\n\u00a0\u3000É\u0301\u2c2f\u1734\x00-_İ") + ["ΣΣ", "  "]
    texts = ["".join(rng.choice(alphabet, size=rng.integers(0, 12))) for _ in range(2000)]
    texts += generated_corpus(100) + ["Σ", "AΣ b", "ΑΣ\u2c2fΒ", "ΑΣ\u0301", "ΑΣ\u0301Β"]
    texts += ["ΑΣ\u1734", "ΑΣ\u1734\u0300", "ΑΣ\u1734Β", "\u1734ΑΣ\u1734\u1734"]
    assert [canonicalize(t) for t in texts] == tensorflow_canonicalize(texts)


# --- Tokenisation -------------------------------------------------------------------


def test_appends_eos_and_pads_with_the_eos_id_to_the_fixed_length(tokenizer, pieces):
    assert (tokenizer.eos_id, tokenizer.pad_id, tokenizer.vocabulary_size) == (1, 1, 256)
    ids = tokenizer(["A photo of a cat.", "dog"])
    assert ids.dtype == np.int32 and ids.shape == (2, SEQUENCE_LENGTH)
    assert ids.tolist() == [expected_ids(pieces, "a photo of a cat"), expected_ids(pieces, "dog")]
    assert ids[1, len(pieces.encode("dog"))] == 1
    assert ids[1, -1] == 1

    single = tokenizer("dog")
    assert single.shape == (SEQUENCE_LENGTH,) and single.tolist() == ids[1].tolist()


def test_a_separate_pad_id_follows_the_eos(proto, pieces):
    zero_padded = SigLIPTokenizer(proto, sequence_length=8, pad_id=0)
    ids = zero_padded("a cat").tolist()
    length = len(pieces.encode("a cat"))
    assert ids == pieces.encode("a cat") + [1] + [0] * (8 - length - 1)
    assert zero_padded.detokenize(ids) == "a cat"


def test_truncation_keeps_the_eos_last(tokenizer, pieces):
    text = "This is a picture of a red cat and a blue dog seen from afar at the café"
    ids = tokenizer([text, "cat"])
    assert len(pieces.encode(canonicalize(text))) > SEQUENCE_LENGTH
    assert ids[0].tolist() == pieces.encode(canonicalize(text))[: SEQUENCE_LENGTH - 1] + [1]
    one = SigLIPTokenizer(tokenizer.proto, sequence_length=1)
    assert one([text, "cat"]).tolist() == [[1], [1]]


def test_canonicalisation_is_applied_and_can_be_switched_off(proto, tokenizer):
    raw = SigLIPTokenizer(proto, sequence_length=SEQUENCE_LENGTH, canonicalize=False)
    texts = ["  A PHOTO,   of a CAFÉ!! ", "Naïve ΣΚΎΛΟΣ?"]
    canonical = [canonicalize(text) for text in texts]
    assert canonical == ["a photo of a café", "naïve σκύλος"]
    np.testing.assert_array_equal(tokenizer(texts), raw(canonical))
    assert not np.array_equal(raw(texts), raw(canonical))
    assert tokenizer(texts).tolist() == tokenizer(canonical).tolist()


def test_same_ids_eagerly_and_inside_tf_data(tokenizer):
    texts = generated_corpus(7, seed=3) + ["Straße, ελιά!", "a " * 40]
    eager = tokenizer(texts)

    unbatched = tf.data.Dataset.from_tensor_slices(texts).map(tokenizer)
    assert unbatched.element_spec == tf.TensorSpec((SEQUENCE_LENGTH,), tf.int32)
    np.testing.assert_array_equal(np.stack([ids.numpy() for ids in unbatched]), eager)

    batched = tf.data.Dataset.from_tensor_slices(texts).batch(4).map(tokenizer)
    assert batched.element_spec == tf.TensorSpec((None, SEQUENCE_LENGTH), tf.int32)
    np.testing.assert_array_equal(np.concatenate([ids.numpy() for ids in batched]), eager)

    # Eager tf tensors and NumPy string arrays give the same NumPy ids.
    np.testing.assert_array_equal(tokenizer(tf.constant(texts)), eager)
    np.testing.assert_array_equal(tokenizer(np.array(texts)), eager)
    np.testing.assert_array_equal(tokenizer([t.encode() for t in texts]), eager)


def test_survives_tf_random_set_seed(tokenizer):
    # `keras.utils.set_random_seed` calls it, and it drops eager TensorFlow kernels.
    dataset = tf.data.Dataset.from_tensor_slices(["a cat", "blue"]).map(tokenizer)
    before = tokenizer(["a cat", "blue"])
    tf.random.set_seed(1)
    np.testing.assert_array_equal(tokenizer(["a cat", "blue"]), before)
    np.testing.assert_array_equal(np.stack([ids.numpy() for ids in dataset]), before)
    assert tokenizer.detokenize(before) == ["a cat", "blue"]


def test_detokenize_drops_eos_and_padding(proto):
    tokenizer = SigLIPTokenizer(proto, sequence_length=32)
    texts = ["A photo of a cat.", "This is a picture of naïve ελιά!", "blue"]
    ids = tokenizer(texts)
    assert tokenizer.detokenize(ids) == [canonicalize(text) for text in texts]
    assert tokenizer.detokenize(ids[2]) == "blue"
    assert tokenizer.detokenize(ids[2].tolist()) == "blue"
    in_graph = tf.data.Dataset.from_tensor_slices(ids).map(tokenizer.detokenize)
    assert [text.numpy().decode() for text in in_graph] == tokenizer.detokenize(ids)


def test_config_and_assets_round_trip(tokenizer, tmp_path):
    custom = SigLIPTokenizer(tokenizer.proto, sequence_length=7, canonicalize=False, pad_id=0)
    assert custom.get_config() == {"sequence_length": 7, "canonicalize": False, "pad_id": 0}
    custom.save_assets(tmp_path / "assets")
    assert (tmp_path / "assets" / "vocabulary.spm").read_bytes() == tokenizer.proto
    loaded = SigLIPTokenizer.from_assets(tmp_path / "assets", custom.get_config())
    assert loaded.get_config() == custom.get_config()
    texts = ["A cat", "two blue dogs and a red bird"]
    np.testing.assert_array_equal(loaded(texts), custom(texts))

    model_file = tmp_path / "vocabulary.model"
    model_file.write_bytes(tokenizer.proto)
    np.testing.assert_array_equal(
        SigLIPTokenizer(model_file, SEQUENCE_LENGTH)(texts), tokenizer(texts)
    )


# --- Errors -------------------------------------------------------------------------


def test_empty_texts_are_named_with_their_index(tokenizer):
    with pytest.raises(ValueError, match=r"`texts\[1\]` is empty after canonicalisation .*'\?! '"):
        tokenizer(["a cat", "?! ", "dog"])
    with pytest.raises(ValueError, match=r"^`texts` is empty after canonicalisation .*''"):
        tokenizer("")
    with pytest.raises(ValueError, match=r"^`texts\[0\]` has no tokens: '  '"):
        SigLIPTokenizer(tokenizer.proto, canonicalize=False)(["  ", "a cat"])


def test_non_strings_raise_type_errors(tokenizer):
    with pytest.raises(TypeError, match=r"`texts\[1\]` is int: 3"):
        tokenizer(["a cat", 3])
    with pytest.raises(TypeError, match="`texts` must be a string or a list of strings, got int"):
        tokenizer(3)
    with pytest.raises(TypeError, match="`texts` must be a tf.string tensor, got dtype int32"):
        tf.data.Dataset.from_tensor_slices([1, 2]).map(tokenizer)
    with pytest.raises(ValueError, match=r"`texts\[0\]` is bytes that are not UTF-8"):
        tokenizer([b"\xff"])


def test_bad_arguments_are_explained(proto, tmp_path):
    with pytest.raises(ValueError, match="`sequence_length` must be a positive integer, got 0"):
        SigLIPTokenizer(proto, sequence_length=0)
    with pytest.raises(ValueError, match="`sequence_length` must be a positive integer, got 8.0"):
        SigLIPTokenizer(proto, sequence_length=8.0)
    with pytest.raises(ValueError, match=r"`pad_id` must be an id in \[0, 256\)"):
        SigLIPTokenizer(proto, pad_id=256)
    with pytest.raises(ValueError, match="`proto` is not a serialized SentencePiece model"):
        SigLIPTokenizer(b"not a model")
    with pytest.raises(FileNotFoundError, match="`proto` names the SentencePiece model file"):
        SigLIPTokenizer(tmp_path / "missing.model")
    with pytest.raises(TypeError, match="`proto` must be the bytes"):
        SigLIPTokenizer(42)
    with pytest.raises(FileNotFoundError, match="vocabulary.spm' does not exist"):
        SigLIPTokenizer.from_assets(tmp_path)
    (tmp_path / "vocabulary.spm").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="Cannot load the tokenizer from '.*vocabulary.spm'"):
        SigLIPTokenizer.from_assets(tmp_path)


def test_a_vocabulary_without_eos_is_refused():
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(generated_corpus(50)),
        model_writer=model,
        vocab_size=40,
        eos_id=-1,
        minloglevel=2,
    )
    with pytest.raises(ValueError, match="`proto` has no EOS token"):
        SigLIPTokenizer(model.getvalue())
