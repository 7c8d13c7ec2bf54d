"""float32 lowerings, one module per C kernel source (firmware/kernels/float32_<stem>.c); importing registers them."""

from edgeq.passes.lower.float32 import (  # noqa: F401  (importing a module registers its lowerings)
    arg_min_max, conv, elementwise, fully_connected, gather, math, pooling, prelu, shape_ops, softmax, split,
    strided_copy)
from edgeq.passes.lower.float32 import compare, div, log_softmax, minimum_maximum, select, squared_difference  # noqa: F401,E402  (elementwise / comparison / cast ops, issue 14)
