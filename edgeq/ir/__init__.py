from edgeq.ir.graph import ALIAS_OPS, ArrayRef, Buffer, Graph, Lowered, MemoryPlan, Op, Quant, StatePair, Tensor
