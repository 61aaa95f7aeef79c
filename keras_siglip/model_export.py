"""`SigLIP`'s serving signature and export: the towers' fixed sizes give the inputs."""

import keras


class ServingMixin:
    """`serving_signature` and `export` for `keras_siglip.model.SigLIP`.

    Mixed into `SigLIP` ahead of `keras.Model`, whose `export` it wraps. It reads
    the model's `image_size` and `sequence_length`.
    """

    def serving_signature(self):
        """The inputs `call` takes, as `keras.InputSpec`s: `images` `(None, size, size,
        3)` float32 in `[-1, 1]` and `token_ids` `(None, sequence_length)` int32,
        each with its own free batch size (any images against any texts)."""
        size = self.image_size
        return {
            "images": keras.InputSpec(shape=(None, size, size, 3), dtype="float32"),
            "token_ids": keras.InputSpec(shape=(None, self.sequence_length), dtype="int32"),
        }

    def export(
        self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs
    ):
        """Export the model for inference, e.g. as a TensorFlow SavedModel.

        As `keras.Model.export`, except that without `input_signature` the model's
        fixed image size and text length give it (`serving_signature()`), so a
        model straight from `from_preset` or `from_variant` exports without being
        called first. The served function takes `{"images", "token_ids"}` and
        returns the `(num_images, num_texts)` logits, as `model(inputs)` does.

        On PyTorch, Keras' SavedModel export takes no dict of inputs: export with
        the TensorFlow or JAX backend (a ValueError says so).

        Example (TensorFlow or JAX backend):

            model.export("served")
            logits = tf.saved_model.load("served").serve(
                {"images": images, "token_ids": token_ids})
        """
        if format == "tf_saved_model" and keras.backend.backend() == "torch":
            raise ValueError(
                "`export(format='tf_saved_model')` needs the TensorFlow or JAX backend for "
                "SigLIP: Keras' SavedModel export on PyTorch takes no dict of inputs. Run "
                "the export with KERAS_BACKEND=tensorflow (or jax); the weights load on any "
                "backend."
            )
        if input_signature is None:
            # A subclassed model gives Keras no input shapes until it has been
            # called; the towers' fixed sizes say them.
            input_signature = [self.serving_signature()]
            if format == "tf_saved_model" and keras.backend.backend() == "jax":
                # Keras names every free batch size "batch" for jax2tf, which
                # would tie the number of images to the number of texts.
                jax2tf_kwargs = dict(kwargs.pop("jax2tf_kwargs", None) or {})
                jax2tf_kwargs.setdefault("polymorphic_shapes", [self._polymorphic_shapes()])
                kwargs["jax2tf_kwargs"] = jax2tf_kwargs
        return super().export(
            filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs
        )

    def _polymorphic_shapes(self):
        size, length = self.image_size, self.sequence_length
        return {
            "images": f"(num_images, {size}, {size}, 3)",
            "token_ids": f"(num_texts, {length})",
        }
