"""Weight-only int8: int8 weights, float32 activations (``--scheme weight-only``), for boards with an FPU.

:func:`weight_only_tflite` turns a float32 .tflite into a weight-only one with Google's LiteRT quantizer,
``ai-edge-quantizer`` (its ``weight_only_wi8_afp32`` recipe: symmetric int8 weights, per channel by
default, per tensor with ``per_channel=False``; every op it supports). The result keeps every op in float32
and feeds each quantized weight through a DEQUANTIZE op (``explicit_dequantize``), which LiteRT's reference
kernels run as they are: that model is the reference the generated C is checked against, within
:data:`edgeq.quality.compare.FLOAT_RTOL`. The C backend does not dequantize the weights into a float copy:
edgeq.passes.graph.weights hands the int8 tensor to the float kernels, which multiply ``(float)w * scale``
in their inner loops. No calibration data is needed (the weights' own ranges set their scales).

TFLite's dynamic-range ("hybrid") models, whose CONV_2D / FULLY_CONNECTED / ... read int8 weights and
quantize their float inputs on the fly inside LiteRT's hybrid kernels, are not run with those kernels:
:func:`hybrid_to_weight_only_here` rewrites them into the weight-only form (a DEQUANTIZE before each such
weight; same weights, same scales, every op float32), which edgeq generates and validates as weight-only
(edgeq.frontend.tflite.kind.ensure_supported). The outputs then differ from LiteRT's hybrid kernels by their
activation quantization (see docs/weight_only.md).

Both run in edgeq's worker (:mod:`edgeq.isolation`): the quantizer reads and writes flatbuffers and runs
LiteRT.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend.runtime import error_line, quiet_tf

RECIPE = "ai-edge-quantizer weight_only_wi8_afp32"  # what made the model, for notes and docs


def weight_only_tflite(float_model: bytes, *, per_channel: bool = True, name: str = "model") -> bytes:
    """The weight-only int8 .tflite of a float32 .tflite (ai-edge-quantizer, in the worker)."""
    return isolation.call("edgeq.frontend.weight_only:weight_only_here", bytes(float_model), per_channel,
                          stage=f"weight-only int8 quantization of {name}", tool="ai-edge-quantizer")


def weight_only_here(float_model: bytes, per_channel: bool) -> bytes:
    """:func:`weight_only_tflite` in this process (edgeq's worker)."""
    from ai_edge_quantizer import qtyping, quantizer, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    manager = recipe_manager.RecipeManager()  # recipe.weight_only_wi8_afp32(), with the granularity asked for
    manager.add_weight_only_config(
        regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=8,
        granularity=qtyping.QuantGranularity.CHANNELWISE if per_channel else qtyping.QuantGranularity.TENSORWISE,
        algorithm_key=AlgorithmName.MIN_MAX_UNIFORM_QUANT)
    printed = io.StringIO()  # the quantizer prints model sizes on stdout
    with quiet_tf(), contextlib.redirect_stdout(printed):
        try:
            q = quantizer.Quantizer(bytes(float_model))
            q.load_quantization_recipe(manager.get_quantization_recipe())
            return bytes(q.quantize().quantized_model)
        except Exception as error:  # noqa: BLE001 - the quantizer raises many types; each becomes one message
            raise EdgeqError("ai-edge-quantizer failed on the float model", detail=[error_line(error)],
                             hint="check that the float .tflite runs in LiteRT; --scheme float32 deploys it "
                                  "unquantized") from None


def hybrid_to_weight_only_here(model: bytes) -> bytes:
    """A dynamic-range .tflite rewritten as weight-only: every constant int8 tensor that a float32 op reads
    gets a DEQUANTIZE op (into a new float32 tensor of its shape) just before that op, which then reads the
    float tensor. Weights, scales and every other op are unchanged. Runs in edgeq's worker."""
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    m = fbu.read_model_from_bytearray(bytearray(model))
    codes = [fbu.get_builtin_code_from_operator_code(c) for c in m.operatorCodes]
    if fb.BuiltinOperator.DEQUANTIZE in codes:
        deq_code = codes.index(fb.BuiltinOperator.DEQUANTIZE)
    else:
        code = fb.OperatorCodeT()
        code.builtinCode = fb.BuiltinOperator.DEQUANTIZE
        code.deprecatedBuiltinCode = min(fb.BuiltinOperator.DEQUANTIZE, 127)
        code.version = 2  # int8 input
        m.operatorCodes.append(code)
        deq_code = len(m.operatorCodes) - 1

    def has_data(t) -> bool:
        buf = m.buffers[t.buffer] if 0 < t.buffer < len(m.buffers) else None
        return buf is not None and buf.data is not None and len(buf.data) > 0

    for sg in m.subgraphs:
        ops = []
        dequantized: dict[int, int] = {}  # int8 weight tensor -> its float32 tensor
        for op in sg.operators:
            outs = [sg.tensors[t].type for t in op.outputs if t >= 0]
            if fb.TensorType.FLOAT32 in outs:
                for k, t in enumerate(op.inputs):
                    if t < 0 or sg.tensors[t].type != fb.TensorType.INT8 or not has_data(sg.tensors[t]):
                        continue
                    if t not in dequantized:
                        src = sg.tensors[t]
                        f = fb.TensorT()
                        f.shape = list(np.asarray(src.shape).tolist())
                        f.type = fb.TensorType.FLOAT32
                        f.buffer = 0
                        f.name = (src.name or b"weight") + (b"_dequantized" if isinstance(src.name, bytes)
                                                            else "_dequantized")
                        sg.tensors.append(f)
                        dequantized[t] = len(sg.tensors) - 1
                        deq = fb.OperatorT()
                        deq.opcodeIndex = deq_code
                        deq.inputs, deq.outputs = [t], [dequantized[t]]
                        ops.append(deq)
                    op.inputs[k] = dequantized[t]
                if op.builtinOptions is not None and hasattr(op.builtinOptions, "asymmetricQuantizeInputs"):
                    op.builtinOptions.asymmetricQuantizeInputs = False
            ops.append(op)
        sg.operators = ops
    return bytes(fbu.convert_object_to_bytearray(m))
