"""float32 lowerings, one module per C kernel source (firmware/kernels/float32_<stem>.c); importing registers them."""

from edgeq.passes.lower.float32 import (  # noqa: F401  (importing a module registers its lowerings)
    arg_min_max, batch_matmul, compare, conv, div, elementary, elementwise, fully_connected, gather, log_softmax,
    math, minimum_maximum, mirror_pad, pooling, prelu, resize, select, shape_ops, softmax, split,
    squared_difference, strided_copy)
