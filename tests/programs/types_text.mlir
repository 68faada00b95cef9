// Text round trips for `asyncvm run` against iree-run-module: identity
// functions (parsing then printing) and bitcasts that print every bit pattern
// of the 8-bit floats and 1024 of bf16 and f16. Compiles for VMVX.

func.func @id_f16(%a: tensor<32xf16>) -> tensor<32xf16> {
  %0 = util.optimization_barrier %a : tensor<32xf16>
  return %0 : tensor<32xf16>
}

func.func @id_bf16(%a: tensor<32xbf16>) -> tensor<32xbf16> {
  %0 = util.optimization_barrier %a : tensor<32xbf16>
  return %0 : tensor<32xbf16>
}

func.func @id_f8E5M2(%a: tensor<32xf8E5M2>) -> tensor<32xf8E5M2> {
  %0 = util.optimization_barrier %a : tensor<32xf8E5M2>
  return %0 : tensor<32xf8E5M2>
}

func.func @id_f8E4M3FN(%a: tensor<32xf8E4M3FN>) -> tensor<32xf8E4M3FN> {
  %0 = util.optimization_barrier %a : tensor<32xf8E4M3FN>
  return %0 : tensor<32xf8E4M3FN>
}

func.func @id_f8E5M2FNUZ(%a: tensor<32xf8E5M2FNUZ>) -> tensor<32xf8E5M2FNUZ> {
  %0 = util.optimization_barrier %a : tensor<32xf8E5M2FNUZ>
  return %0 : tensor<32xf8E5M2FNUZ>
}

func.func @id_f8E4M3FNUZ(%a: tensor<32xf8E4M3FNUZ>) -> tensor<32xf8E4M3FNUZ> {
  %0 = util.optimization_barrier %a : tensor<32xf8E4M3FNUZ>
  return %0 : tensor<32xf8E4M3FNUZ>
}

func.func @id_f8E8M0FNU(%a: tensor<32xf8E8M0FNU>) -> tensor<32xf8E8M0FNU> {
  %0 = util.optimization_barrier %a : tensor<32xf8E8M0FNU>
  return %0 : tensor<32xf8E8M0FNU>
}

func.func @bits_f16(%a: tensor<4x256xi16>) -> tensor<4x256xf16> {
  %0 = arith.bitcast %a : tensor<4x256xi16> to tensor<4x256xf16>
  return %0 : tensor<4x256xf16>
}

func.func @bits_bf16(%a: tensor<4x256xi16>) -> tensor<4x256xbf16> {
  %0 = arith.bitcast %a : tensor<4x256xi16> to tensor<4x256xbf16>
  return %0 : tensor<4x256xbf16>
}

func.func @bits_f8E5M2(%a: tensor<16x16xi8>) -> tensor<16x16xf8E5M2> {
  %0 = arith.bitcast %a : tensor<16x16xi8> to tensor<16x16xf8E5M2>
  return %0 : tensor<16x16xf8E5M2>
}

func.func @bits_f8E4M3FN(%a: tensor<16x16xi8>) -> tensor<16x16xf8E4M3FN> {
  %0 = arith.bitcast %a : tensor<16x16xi8> to tensor<16x16xf8E4M3FN>
  return %0 : tensor<16x16xf8E4M3FN>
}

func.func @bits_f8E5M2FNUZ(%a: tensor<16x16xi8>) -> tensor<16x16xf8E5M2FNUZ> {
  %0 = arith.bitcast %a : tensor<16x16xi8> to tensor<16x16xf8E5M2FNUZ>
  return %0 : tensor<16x16xf8E5M2FNUZ>
}

func.func @bits_f8E4M3FNUZ(%a: tensor<16x16xi8>) -> tensor<16x16xf8E4M3FNUZ> {
  %0 = arith.bitcast %a : tensor<16x16xi8> to tensor<16x16xf8E4M3FNUZ>
  return %0 : tensor<16x16xf8E4M3FNUZ>
}

func.func @bits_f8E8M0FNU(%a: tensor<16x16xi8>) -> tensor<16x16xf8E8M0FNU> {
  %0 = arith.bitcast %a : tensor<16x16xi8> to tensor<16x16xf8E8M0FNU>
  return %0 : tensor<16x16xf8E8M0FNU>
}

func.func @id_f32(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = util.optimization_barrier %a : tensor<4xf32>
  return %0 : tensor<4xf32>
}
