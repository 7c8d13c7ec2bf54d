"""int16 lowerings, one module per C kernel source (firmware/kernels/int16_<stem>.c); importing registers them."""

from edgeq.passes.lower.int16 import (  # noqa: F401  (importing a module registers its lowerings)
    conv, elementwise, gather, pooling, quantize, reduce, shape_ops, softmax, strided_copy)
from edgeq.passes.lower.int16 import compare, minimum_maximum, select  # noqa: F401,E402  (elementwise / comparison / cast ops, issue 14)
