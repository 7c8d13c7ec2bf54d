"""The slice of the TFLite flatbuffer schema edgeq reads (names and numbers from schema.fbs)."""

BUILTIN_OPS = (
    "ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE "
    "EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D "
    "LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1 "
    "RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS SKIP_GRAM "
    "CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER BATCH_TO_SPACE_ND "
    "SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE "
    "BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM "
    "CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE "
    "SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW "
    "ARG_MIN FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK "
    "REDUCE_MIN FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR "
    "LEAKY_RELU SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL REVERSE_V2 ADD_N GATHER_ND COS "
    "WHERE RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE "
    "NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM "
    "BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D IMAG "
    "REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL "
    "CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS RANDOM_STANDARD_NORMAL "
    "BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU DYNAMIC_UPDATE_SLICE RELU_0_TO_1 UNSORTED_SEGMENT_PROD "
    "UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2 UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR "
    "RIGHT_SHIFT STABLEHLO_LOGISTIC STABLEHLO_ADD STABLEHLO_DIVIDE STABLEHLO_MULTIPLY "
    "STABLEHLO_MAXIMUM STABLEHLO_RESHAPE STABLEHLO_CLAMP STABLEHLO_CONCATENATE "
    "STABLEHLO_BROADCAST_IN_DIM STABLEHLO_CONVOLUTION STABLEHLO_SLICE STABLEHLO_CUSTOM_CALL "
    "STABLEHLO_REDUCE STABLEHLO_ABS STABLEHLO_AND STABLEHLO_COSINE STABLEHLO_EXPONENTIAL "
    "STABLEHLO_FLOOR STABLEHLO_LOG STABLEHLO_MINIMUM STABLEHLO_NEGATE STABLEHLO_OR STABLEHLO_POWER "
    "STABLEHLO_REMAINDER STABLEHLO_RSQRT STABLEHLO_SELECT STABLEHLO_SUBTRACT STABLEHLO_TANH "
    "STABLEHLO_SCATTER STABLEHLO_COMPARE STABLEHLO_CONVERT STABLEHLO_DYNAMIC_SLICE "
    "STABLEHLO_DYNAMIC_UPDATE_SLICE STABLEHLO_PAD STABLEHLO_IOTA STABLEHLO_DOT_GENERAL "
    "STABLEHLO_REDUCE_WINDOW STABLEHLO_SORT STABLEHLO_WHILE STABLEHLO_GATHER STABLEHLO_TRANSPOSE "
    "DILATE STABLEHLO_RNG_BIT_GENERATOR REDUCE_WINDOW STABLEHLO_COMPOSITE STABLEHLO_SHIFT_LEFT "
    "STABLEHLO_CBRT STABLEHLO_CASE "
).split()

TENSOR_TYPES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
    8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64", 13: "resource",
    14: "variant", 15: "uint32", 16: "uint16", 17: "int4", 18: "bfloat16", 19: "int2", 20: "uint4",
}

ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
PADDINGS = {0: "SAME", 1: "VALID"}

# Builtin options tables, by op kind: (field name, flatbuffer kind, default) in vtable order.
# kinds: b=int8 B=uint8 ? = bool i=int32 f=float32 [i = vector of int32.
_POOL = (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0), ("filter_width", "i", 0),
         ("filter_height", "i", 0), ("fused_activation_function", "b", 0))
OPTIONS = {
    "CONV_2D": (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                ("fused_activation_function", "b", 0), ("dilation_w_factor", "i", 1),
                ("dilation_h_factor", "i", 1)),
    "DEPTHWISE_CONV_2D": (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                          ("depth_multiplier", "i", 0), ("fused_activation_function", "b", 0),
                          ("dilation_w_factor", "i", 1), ("dilation_h_factor", "i", 1)),
    "AVERAGE_POOL_2D": _POOL,
    "MAX_POOL_2D": _POOL,
    "L2_POOL_2D": _POOL,
    "CONCATENATION": (("axis", "i", 0), ("fused_activation_function", "b", 0)),
    "FULLY_CONNECTED": (("fused_activation_function", "b", 0), ("weights_format", "b", 0),
                        ("keep_num_dims", "?", False), ("asymmetric_quantize_inputs", "?", False)),
    "SOFTMAX": (("beta", "f", 0.0),),
    "ADD": (("fused_activation_function", "b", 0), ("pot_scale_int16", "?", True)),
    "SUB": (("fused_activation_function", "b", 0), ("pot_scale_int16", "?", True)),
    "MUL": (("fused_activation_function", "b", 0),),
    "DIV": (("fused_activation_function", "b", 0),),
    "RESHAPE": (("new_shape", "[i", ()),),
    "MEAN": (("keep_dims", "?", False),),
    "SUM": (("keep_dims", "?", False),),
    "BATCH_MATMUL": (("adj_x", "?", False), ("adj_y", "?", False), ("asymmetric_quantize_inputs", "?", False)),
    "REDUCE_MAX": (("keep_dims", "?", False),),
    "REDUCE_MIN": (("keep_dims", "?", False),),
    "SQUEEZE": (("squeeze_dims", "[i", ()),),
    "STRIDED_SLICE": (("begin_mask", "i", 0), ("end_mask", "i", 0), ("ellipsis_mask", "i", 0),
                      ("new_axis_mask", "i", 0), ("shrink_axis_mask", "i", 0), ("offset", "?", False)),
    "LEAKY_RELU": (("alpha", "f", 0.0),),
    "GELU": (("approximate", "?", False),),
    "TRANSPOSE_CONV": (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                       ("fused_activation_function", "b", 0)),
    "RESIZE_NEAREST_NEIGHBOR": (("align_corners", "?", False), ("half_pixel_centers", "?", False)),
    "RESIZE_BILINEAR": (("new_height", "i", 0), ("new_width", "i", 0), ("align_corners", "?", False),
                        ("half_pixel_centers", "?", False)),
    "DEPTH_TO_SPACE": (("block_size", "i", 0),),
    "SPACE_TO_DEPTH": (("block_size", "i", 0),),
    "MIRROR_PAD": (("mode", "b", 0),),
    "L2_NORMALIZATION": (("fused_activation_function", "b", 0),),
    "SPLIT": (("num_splits", "i", 0),),
    "SPLIT_V": (("num_splits", "i", 0),),
    "PACK": (("values_count", "i", 0), ("axis", "i", 0)),
    "UNPACK": (("num", "i", 0), ("axis", "i", 0)),
    "GATHER": (("axis", "i", 0), ("batch_dims", "i", 0)),
    "ARG_MAX": (("output_type", "b", 0),),
    "ARG_MIN": (("output_type", "b", 0),),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (("fused_activation_function", "b", 0), ("cell_clip", "f", 0.0),
                                     ("proj_clip", "f", 0.0), ("time_major", "?", False),
                                     ("asymmetric_quantize_inputs", "?", False),
                                     ("diagonal_recurrent_tensors", "?", False)),
}
