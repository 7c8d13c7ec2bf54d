"""int16 lowerings, one module per C kernel source (firmware/kernels/int16_<stem>.c); importing registers them."""

from edgeq.passes.lower.int16 import conv, elementwise, pooling, quantize, reduce, shape_ops, softmax  # noqa: F401
from edgeq.passes.lower.int16 import gather, strided_copy  # noqa: F401  (issue 14 part A: data movement, index ops)
