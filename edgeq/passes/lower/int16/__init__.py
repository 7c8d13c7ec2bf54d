"""int16 lowerings, one module per C kernel source (firmware/kernels/int16_<stem>.c); importing registers them."""

from edgeq.passes.lower.int16 import conv, elementwise, pooling, quantize, reduce, shape_ops, softmax  # noqa: F401
