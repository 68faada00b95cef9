// asyncvm compare: three elementwise steps kept apart by optimization barriers
// (so each is its own dispatch). compare_b.mlir differs in the second step only.
func.func @chain(%x: tensor<64xf32>, %y: tensor<64xf32>) -> tensor<64xf32> {
  %0 = arith.mulf %x, %y : tensor<64xf32>
  %1 = util.optimization_barrier %0 : tensor<64xf32>
  %2 = arith.addf %1, %x : tensor<64xf32>
  %3 = util.optimization_barrier %2 : tensor<64xf32>
  %4 = arith.subf %3, %y : tensor<64xf32>
  return %4 : tensor<64xf32>
}
