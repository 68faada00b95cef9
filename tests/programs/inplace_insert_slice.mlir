// tensor.insert_slice into util.unfoldable_constant values: IREE 3.13
// writes the slice into the imported constant in place.
func.func @insert_constant() -> tensor<4x5xi32> {
  %big = util.unfoldable_constant dense<[[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12, 13, 14, 15], [16, 17, 18, 19, 20]]> : tensor<4x5xi32>
  %small = util.unfoldable_constant dense<[[-1, -2, -3], [-4, -5, -6]]> : tensor<2x3xi32>
  %0 = tensor.insert_slice %small into %big[1, 2] [2, 3] [1, 1] : tensor<2x3xi32> into tensor<4x5xi32>
  return %0 : tensor<4x5xi32>
}

func.func @insert_argument(%small: tensor<2x2xf32>) -> tensor<3x4xf32> {
  %big = util.unfoldable_constant dense<0.5> : tensor<3x4xf32>
  %0 = tensor.insert_slice %small into %big[1, 1] [2, 2] [1, 1] : tensor<2x2xf32> into tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}
