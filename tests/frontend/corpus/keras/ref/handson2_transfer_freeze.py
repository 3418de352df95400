import keras


def build():
    model_A = keras.models.Sequential()
    model_A.add(keras.layers.Flatten(input_shape=[28, 28]))
    for n_hidden in (300, 100, 50, 50, 50):
        model_A.add(keras.layers.Dense(n_hidden, activation="selu"))
    model_A.add(keras.layers.Dense(8, activation="softmax"))
    # model_A = keras.models.load_model("my_model_A.h5")  (same architecture)
    model_A_clone = keras.models.clone_model(model_A)
    model_A_clone.set_weights(model_A.get_weights())
    model_B_on_A = keras.models.Sequential(model_A_clone.layers[:-1])
    model_B_on_A.add(keras.layers.Dense(1, activation="sigmoid"))
    # Keras 3: Sequential(model_A_clone.layers[:-1]) has no InputLayer (the input_shape
    # belonged to model_A's InputLayer), so the model stays unbuilt until fit; build it here.
    model_B_on_A.build((None, 28, 28))
    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = False
    # ... first fit, then the script unfreezes again (final state):
    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = True
    return model_B_on_A
