"""The streaming trainer: HDF5 store -> tf.data -> Keras fit() GAN."""
