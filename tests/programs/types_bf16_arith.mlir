// bf16 arithmetic: compiles for llvm-cpu only (IREE 3.13's VMVX backend
// fails with "'vm.add.f32' op operand #0 must be 32-bit float").
func.func @add_bf16(%a: tensor<4xbf16>, %b: tensor<4xbf16>) -> tensor<4xbf16> {
  %0 = arith.addf %a, %b : tensor<4xbf16>
  return %0 : tensor<4xbf16>
}

func.func @mul_bf16(%a: tensor<2x2xbf16>, %b: tensor<2x2xbf16>) -> tensor<2x2xbf16> {
  %0 = arith.mulf %a, %b : tensor<2x2xbf16>
  return %0 : tensor<2x2xbf16>
}
