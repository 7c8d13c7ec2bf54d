"""int8 lowerings, one module per C kernel source (firmware/kernels/<stem>.c); importing registers them."""

from edgeq.passes.lower.int8 import activations, conv, depthwise_conv, elementwise, fully_connected, pooling, quantize, reduce, resize, shape_ops, softmax, transpose_conv  # noqa: F401
from edgeq.passes.lower.int8 import lstm  # noqa: F401
from edgeq.passes.lower.int8 import split  # noqa: F401
