"""float32 lowerings, one module per C kernel source (firmware/kernels/float32_<stem>.c); importing registers them."""

from edgeq.passes.lower.float32 import conv, elementwise, fully_connected, pooling, shape_ops, softmax  # noqa: F401
from edgeq.passes.lower.float32 import split  # noqa: F401
