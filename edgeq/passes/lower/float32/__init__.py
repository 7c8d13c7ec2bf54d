"""float32 lowerings, one module per C kernel source (firmware/kernels/float32_<stem>.c); importing registers them."""

from edgeq.passes.lower.float32 import (  # noqa: F401  (importing a module registers its lowerings)
    arg_min_max, batch_matmul, conv, elementwise, fully_connected, gather, math, pooling, prelu, shape_ops, softmax,
    split, strided_copy)
