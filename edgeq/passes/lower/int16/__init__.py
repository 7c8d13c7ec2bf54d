"""int16 lowerings, one module per C kernel source (firmware/kernels/int16_<stem>.c); importing registers them."""

from edgeq.passes.lower.int16 import (  # noqa: F401  (importing a module registers its lowerings)
    activations, batch_matmul, compare, conv, elementwise, gather, minimum_maximum, mirror_pad, pooling, quantize,
    reduce, resize, select, shape_ops, softmax, split, strided_copy)
