"""A small multilingual text tower: captions in five languages, one image space.

The `emoji` package names each emoji in 14 languages. A Pico SigLIP with a
SentencePiece vocabulary trained on the names of 128 emoji in five languages
(Latin, Cyrillic and CJK scripts) learns to retrieve each emoji's image from its
name in every one of them.
"""

import keras
import numpy as np
import pytest

from keras_siglip import SigLIP, SigLIPTokenizer
from keras_siglip.data import emoji as emoji_data
from keras_siglip.evaluation import recall_at_k
from keras_siglip.evaluation.embedding import embed_in_batches
from keras_siglip.preprocessing import preprocess_images, train_sentencepiece

LANGUAGES = ("en", "es", "de", "ru", "ja")
NUM_ITEMS = 128


def multilingual_items():
    """Rendered images of `NUM_ITEMS` emoji and their name in each language."""
    import emoji

    for language in LANGUAGES:
        if language != "en":
            emoji.config.load_language(language)
    sequences, _ = emoji_data._emoji_items(("en",))
    named = [s for s in sequences if all(language in emoji.EMOJI_DATA[s] for language in LANGUAGES)]
    chosen = [
        named[i]
        for i in np.sort(np.random.default_rng(0).choice(len(named), NUM_ITEMS, replace=False))
    ]
    names = {
        language: [emoji_data.emoji_name(emoji.EMOJI_DATA[s][language]) for s in chosen]
        for language in LANGUAGES
    }
    images = preprocess_images(emoji_data._render_emoji(tuple(chosen), 64), 32)
    return images, names


@pytest.mark.slow
def test_a_small_multilingual_tower_retrieves_images_from_names_in_five_languages():
    if keras.backend.backend() != "jax":
        pytest.skip("a training run; the backends' fit paths are tested elsewhere")
    keras.utils.set_random_seed(0)
    images, names = multilingual_items()
    corpus = [name for language in LANGUAGES for name in names[language]]
    tokenizer = SigLIPTokenizer(
        train_sentencepiece(corpus, 600, hard_vocab_limit=False), sequence_length=16
    )
    token_ids = {language: tokenizer(names[language]) for language in LANGUAGES}
    model = SigLIP.from_variant(
        "Pico/8", image_size=32, sequence_length=16, vocabulary_size=tokenizer.vocabulary_size
    )
    model.compile(learning_rate=3e-3, warmup_steps=20, decay_steps=300)

    rng = np.random.default_rng(1)
    stacked = np.stack(
        [token_ids[language] for language in LANGUAGES]
    )  # (languages, items, length)

    def batches():
        while True:
            # Every emoji once per batch, each named in a random language.
            language = rng.integers(len(LANGUAGES), size=NUM_ITEMS)
            yield {
                "images": emoji_data.augment(
                    images, rng, max_rotation=5, scale=(0.95, 1.05), max_shift=0.03
                ),
                "token_ids": stacked[language, np.arange(NUM_ITEMS)],
            }

    import tensorflow as tf

    signature = {
        "images": tf.TensorSpec((NUM_ITEMS, 32, 32, 3), tf.float32),
        "token_ids": tf.TensorSpec((NUM_ITEMS, 16), tf.int32),
    }
    model.fit(
        tf.data.Dataset.from_generator(batches, output_signature=signature),
        steps_per_epoch=300,
        epochs=1,
        shuffle=False,
        verbose=0,
    )

    image_embeddings = embed_in_batches(model.encode_images, images, 128)
    chance = 1 / NUM_ITEMS
    for language in LANGUAGES:
        text_embeddings = embed_in_batches(model.encode_texts, token_ids[language], 128)
        similarity = text_embeddings @ image_embeddings.T
        recall = recall_at_k(similarity, 1)
        print(f"{language}: text-to-image recall@1 {recall:.3f} (chance {chance:.3f})")
        assert recall >= 10 * chance, (
            f"{language}: text-to-image recall@1 {recall:.3f}, chance {chance:.3f}"
        )
