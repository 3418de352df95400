"""seqc's version, in a leaf module: the stages that stamp it into their outputs (ONNX
metadata, .keras files, shard ledgers) import it from here, never from the package that
imports them."""

__version__ = "0.1.0"
