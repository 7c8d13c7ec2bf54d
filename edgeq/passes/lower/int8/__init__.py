"""int8 lowerings, one module per C kernel source (firmware/kernels/<stem>.c); importing registers them."""

from edgeq.passes.lower.int8 import (  # noqa: F401  (importing a module registers its lowerings)
    activations, arg_min_max, conv, depthwise_conv, elementwise, fully_connected, gather, index_ops, lstm, pooling,
    prelu, quantize, reduce, resize, shape_ops, softmax, split, strided_copy, transpose_conv)
from edgeq.passes.lower.int8 import cast, compare, div, log_softmax, minimum_maximum, select, squared_difference  # noqa: F401,E402  (elementwise / comparison / cast ops, issue 14)
