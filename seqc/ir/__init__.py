"""The IR: tensor types, graph, builder with shape inference, printer, verifier, JSON I/O."""
