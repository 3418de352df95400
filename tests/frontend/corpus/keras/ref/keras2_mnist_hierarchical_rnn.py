from keras.models import Model
from keras.layers import Input, Dense, TimeDistributed, LSTM

num_classes = 10
row_hidden = 128
col_hidden = 128
row, col, pixel = 28, 28, 1  # x_train.shape[1:]


def build():
    x = Input(shape=(row, col, pixel))
    encoded_rows = TimeDistributed(LSTM(row_hidden))(x)
    encoded_columns = LSTM(col_hidden)(encoded_rows)
    prediction = Dense(num_classes, activation='softmax')(encoded_columns)
    model = Model(x, prediction)
    return model
