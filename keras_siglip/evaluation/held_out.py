"""The main job's evaluation: held-out digits zero-shot, retrieval among held-out emoji."""

from keras_siglip.data.emoji import known_word_mask
from keras_siglip.evaluation.embedding import compiled_encoder, embed_in_batches
from keras_siglip.evaluation.retrieval import retrieval_metrics
from keras_siglip.evaluation.zero_shot import ZeroShotClassifier
from keras_siglip.preprocessing import preprocess_images

__all__ = ["HeldOutEvaluation", "ZERO_SHOT_TEMPLATES"]

ZERO_SHOT_TEMPLATES = (
    "a photo of the digit {}.",
    "a picture of the number {}.",
    "{}, handwritten.",
)


class HeldOutEvaluation:
    """Zero-shot classification of the held-out digits and retrieval among the held-out emoji.

    Texts are embedded once; each call embeds the held-out images with the image
    encoder it is given (the model's own, or one that averages augmented views) and
    returns the metrics, with recall also over the held-out names whose words all
    occur in `trained_captions` (`known_words_*`) and the others (`new_words_*`).
    """

    def __init__(self, data, model, tokenizer, image_size, trained_captions):
        self.data, self.model, self.tokenizer = data, model, tokenizer
        self.emoji_images = preprocess_images(data.test.images, image_size)
        self.digit_images = preprocess_images(data.digits_test.images, image_size)
        self.text_embeddings = embed_in_batches(
            compiled_encoder(model.text_encoder), tokenizer(data.test.captions), 256
        )
        self.known_words = known_word_mask(data.test.captions, trained_captions)

    def __call__(self, image_encoder):
        image_embeddings = embed_in_batches(image_encoder, self.emoji_images, 256)
        retrieval = retrieval_metrics(image_embeddings, self.text_embeddings)
        by_words = {}
        for prefix, mask in (("known_words", self.known_words), ("new_words", ~self.known_words)):
            by_words[f"{prefix}_items"] = int(mask.sum())
            if mask.any():
                subset = retrieval_metrics(image_embeddings, self.text_embeddings, queries=mask)
                by_words.update(
                    {f"{prefix}_{key}": value for key, value in subset.items() if "recall@" in key}
                )
        classifier = ZeroShotClassifier(
            self.model,
            list(self.data.class_names),
            templates=ZERO_SHOT_TEMPLATES,
            tokenizer=self.tokenizer,
            image_encoder=image_encoder,
        )
        zero_shot = classifier.evaluate(self.digit_images, self.data.digits_test.labels)
        return {
            "zero_shot_top1": zero_shot["top1"],
            "zero_shot_chance": 1.0 / classifier.num_classes,
            "zero_shot_examples": len(self.digit_images),
            **retrieval,
            **by_words,
        }
