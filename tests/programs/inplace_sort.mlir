// Sorts of util.unfoldable_constant values: IREE 3.13 sorts the imported
// constant in place (the dispatch binds the constant's buffer read-write),
// then copies the result out.
func.func @sort1d() -> tensor<8xi32> {
  %input = util.unfoldable_constant dense<[3, 1, 4, 1, 5, 9, 2, 6]> : tensor<8xi32>
  %0 = iree_linalg_ext.sort dimension(0) outs(%input : tensor<8xi32>) {
  ^bb0(%a: i32, %b: i32):
    %less = arith.cmpi slt, %a, %b : i32
    iree_linalg_ext.yield %less : i1
  } -> tensor<8xi32>
  return %0 : tensor<8xi32>
}

func.func @sort_pairs() -> (tensor<6xf32>, tensor<6xi32>) {
  %keys = util.unfoldable_constant dense<[2.5, -1.0, 7.0, 0.0, -3.5, 1.0]> : tensor<6xf32>
  %values = util.unfoldable_constant dense<[0, 1, 2, 3, 4, 5]> : tensor<6xi32>
  %0:2 = iree_linalg_ext.sort dimension(0) outs(%keys, %values : tensor<6xf32>, tensor<6xi32>) {
  ^bb0(%a: f32, %b: f32, %x: i32, %y: i32):
    %greater = arith.cmpf ogt, %a, %b : f32
    iree_linalg_ext.yield %greater : i1
  } -> tensor<6xf32>, tensor<6xi32>
  return %0#0, %0#1 : tensor<6xf32>, tensor<6xi32>
}

func.func @sort_rows() -> tensor<3x4xi32> {
  %input = util.unfoldable_constant dense<[[4, 3, 2, 1], [8, 5, 7, 6], [0, -1, 1, -2]]> : tensor<3x4xi32>
  %0 = iree_linalg_ext.sort dimension(1) outs(%input : tensor<3x4xi32>) {
  ^bb0(%a: i32, %b: i32):
    %less = arith.cmpi slt, %a, %b : i32
    iree_linalg_ext.yield %less : i1
  } -> tensor<3x4xi32>
  return %0 : tensor<3x4xi32>
}
