// Scatters into util.unfoldable_constant values: IREE 3.13 updates the
// imported constant in place. @scatter_set overwrites (every call writes the
// same values); @scatter_add accumulates into the constant, so in IREE's
// runtime each call of one context sees what the previous call wrote.
func.func @scatter_set() -> tensor<8xi32> {
  %original = util.unfoldable_constant dense<[0, 1, 2, 3, 4, 5, 6, 7]> : tensor<8xi32>
  %updates = util.unfoldable_constant dense<[10, 20, 30]> : tensor<3xi32>
  %indices = util.unfoldable_constant dense<[[1], [5], [6]]> : tensor<3x1xi32>
  %0 = iree_linalg_ext.scatter dimension_map = [0] unique_indices(true)
      ins(%updates, %indices : tensor<3xi32>, tensor<3x1xi32>)
      outs(%original : tensor<8xi32>) {
    ^bb0(%update: i32, %current: i32):
      iree_linalg_ext.yield %update : i32
  } -> tensor<8xi32>
  return %0 : tensor<8xi32>
}

func.func @scatter_add() -> tensor<8xi32> {
  %original = util.unfoldable_constant dense<[0, 1, 2, 3, 4, 5, 6, 7]> : tensor<8xi32>
  %updates = util.unfoldable_constant dense<[10, 20]> : tensor<2xi32>
  %indices = util.unfoldable_constant dense<[[1], [5]]> : tensor<2x1xi32>
  %0 = iree_linalg_ext.scatter dimension_map = [0] unique_indices(true)
      ins(%updates, %indices : tensor<2xi32>, tensor<2x1xi32>)
      outs(%original : tensor<8xi32>) {
    ^bb0(%update: i32, %current: i32):
      %sum = arith.addi %update, %current : i32
      iree_linalg_ext.yield %sum : i32
  } -> tensor<8xi32>
  return %0 : tensor<8xi32>
}
