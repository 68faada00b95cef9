// bf16 and the 8-bit floats at the ABI: conversions from and to f32,
// arithmetic in f8 and a bf16 matmul accumulating in f32. Every function
// compiles for VMVX and llvm-cpu (bf16 arithmetic does not compile for VMVX
// in IREE 3.13: see types_bf16_arith.mlir).
func.func @trunc_bf16(%a: tensor<6xf32>) -> tensor<6xbf16> {
  %0 = arith.truncf %a : tensor<6xf32> to tensor<6xbf16>
  return %0 : tensor<6xbf16>
}

func.func @ext_bf16(%a: tensor<6xbf16>) -> tensor<6xf32> {
  %0 = arith.extf %a : tensor<6xbf16> to tensor<6xf32>
  return %0 : tensor<6xf32>
}

func.func @double_bf16(%a: tensor<2x3xbf16>) -> tensor<2x3xbf16> {
  %e = arith.extf %a : tensor<2x3xbf16> to tensor<2x3xf32>
  %s = arith.addf %e, %e : tensor<2x3xf32>
  %0 = arith.truncf %s : tensor<2x3xf32> to tensor<2x3xbf16>
  return %0 : tensor<2x3xbf16>
}

func.func @matmul_bf16(%a: tensor<2x3xbf16>, %b: tensor<3x2xbf16>) -> tensor<2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<2x2xf32>) -> tensor<2x2xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<2x3xbf16>, tensor<3x2xbf16>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

func.func @scalar_bf16(%a: tensor<bf16>) -> tensor<bf16> {
  %0 = util.optimization_barrier %a : tensor<bf16>
  return %0 : tensor<bf16>
}

func.func @trunc_f8E4M3FN(%a: tensor<6xf32>) -> tensor<6xf8E4M3FN> {
  %0 = arith.truncf %a : tensor<6xf32> to tensor<6xf8E4M3FN>
  return %0 : tensor<6xf8E4M3FN>
}

func.func @trunc_f8E5M2(%a: tensor<6xf32>) -> tensor<6xf8E5M2> {
  %0 = arith.truncf %a : tensor<6xf32> to tensor<6xf8E5M2>
  return %0 : tensor<6xf8E5M2>
}

func.func @trunc_f8E4M3FNUZ(%a: tensor<6xf32>) -> tensor<6xf8E4M3FNUZ> {
  %0 = arith.truncf %a : tensor<6xf32> to tensor<6xf8E4M3FNUZ>
  return %0 : tensor<6xf8E4M3FNUZ>
}

func.func @trunc_f8E5M2FNUZ(%a: tensor<6xf32>) -> tensor<6xf8E5M2FNUZ> {
  %0 = arith.truncf %a : tensor<6xf32> to tensor<6xf8E5M2FNUZ>
  return %0 : tensor<6xf8E5M2FNUZ>
}

func.func @trunc_f8E8M0FNU(%a: tensor<6xf32>) -> tensor<6xf8E8M0FNU> {
  %0 = arith.truncf %a : tensor<6xf32> to tensor<6xf8E8M0FNU>
  return %0 : tensor<6xf8E8M0FNU>
}

func.func @ext_f8E4M3FN(%a: tensor<6xf8E4M3FN>) -> tensor<6xf32> {
  %0 = arith.extf %a : tensor<6xf8E4M3FN> to tensor<6xf32>
  return %0 : tensor<6xf32>
}

func.func @ext_f8E5M2(%a: tensor<6xf8E5M2>) -> tensor<6xf32> {
  %0 = arith.extf %a : tensor<6xf8E5M2> to tensor<6xf32>
  return %0 : tensor<6xf32>
}

func.func @ext_f8E4M3FNUZ(%a: tensor<6xf8E4M3FNUZ>) -> tensor<6xf32> {
  %0 = arith.extf %a : tensor<6xf8E4M3FNUZ> to tensor<6xf32>
  return %0 : tensor<6xf32>
}

func.func @ext_f8E5M2FNUZ(%a: tensor<6xf8E5M2FNUZ>) -> tensor<6xf32> {
  %0 = arith.extf %a : tensor<6xf8E5M2FNUZ> to tensor<6xf32>
  return %0 : tensor<6xf32>
}

func.func @ext_f8E8M0FNU(%a: tensor<6xf8E8M0FNU>) -> tensor<6xf32> {
  %0 = arith.extf %a : tensor<6xf8E8M0FNU> to tensor<6xf32>
  return %0 : tensor<6xf32>
}

func.func @add_f8E4M3FN(%a: tensor<6xf8E4M3FN>, %b: tensor<6xf8E4M3FN>) -> tensor<6xf8E4M3FN> {
  %0 = arith.addf %a, %b : tensor<6xf8E4M3FN>
  return %0 : tensor<6xf8E4M3FN>
}

func.func @mul_f8E5M2(%a: tensor<6xf8E5M2>, %b: tensor<6xf8E5M2>) -> tensor<6xf8E5M2> {
  %0 = arith.mulf %a, %b : tensor<6xf8E5M2>
  return %0 : tensor<6xf8E5M2>
}
