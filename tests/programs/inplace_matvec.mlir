// Narrow integer products with constant operands and a constant
// accumulator: IREE 3.13 accumulates into the imported constant in place.
func.func @matvec_i8() -> tensor<3xi32> {
  %lhs = util.unfoldable_constant dense<[[1, -2, 3, -4], [5, 6, -7, 8], [-9, 10, 11, 12]]> : tensor<3x4xi8>
  %rhs = util.unfoldable_constant dense<[2, -3, 4, 5]> : tensor<4xi8>
  %acc = util.unfoldable_constant dense<[100, -200, 300]> : tensor<3xi32>
  %lhs32 = arith.extsi %lhs : tensor<3x4xi8> to tensor<3x4xi32>
  %rhs32 = arith.extsi %rhs : tensor<4xi8> to tensor<4xi32>
  %0 = linalg.matvec ins(%lhs32, %rhs32 : tensor<3x4xi32>, tensor<4xi32>) outs(%acc : tensor<3xi32>) -> tensor<3xi32>
  return %0 : tensor<3xi32>
}

func.func @narrow_matmul() -> tensor<1x3xf32> {
  %lhs = util.unfoldable_constant dense<[[1.0, 2.0, -1.0, 0.5]]> : tensor<1x4xf32>
  %rhs = util.unfoldable_constant dense<[[1.0, 0.0, 2.0], [-1.0, 3.0, 0.5], [0.0, 1.0, 1.0], [4.0, -2.0, 0.0]]> : tensor<4x3xf32>
  %acc = util.unfoldable_constant dense<[[0.25, -0.5, 1.0]]> : tensor<1x3xf32>
  %0 = linalg.matmul ins(%lhs, %rhs : tensor<1x4xf32>, tensor<4x3xf32>) outs(%acc : tensor<1x3xf32>) -> tensor<1x3xf32>
  return %0 : tensor<1x3xf32>
}
