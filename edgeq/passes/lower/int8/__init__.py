"""int8 lowerings, one module per C kernel source (firmware/kernels/<stem>.c); importing registers them."""

from edgeq.passes.lower.int8 import (  # noqa: F401  (importing a module registers its lowerings)
    activations, arg_min_max, batch_matmul, cast, compare, conv, depthwise_conv, div, elementwise, fully_connected,
    gather, index_ops, l2_normalization, log_softmax, logical, lstm, minimum_maximum, mirror_pad, pooling, prelu,
    quantize, reduce, resize, select, shape_ops, softmax, split, squared_difference, strided_copy, transpose_conv)
