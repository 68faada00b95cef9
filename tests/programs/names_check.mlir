// Check tests named like IREE's: after their file, or with dots in the name.
func.func @"regression_issue_12546.mlir"() {
  %a = util.unfoldable_constant dense<[1, 2, 3, 4]> : tensor<4xi32>
  %b = arith.muli %a, %a : tensor<4xi32>
  check.expect_eq_const(%b, dense<[1, 4, 9, 16]> : tensor<4xi32>) : tensor<4xi32>
  return
}

func.func @"i32i32.i32"() {
  %a = util.unfoldable_constant dense<[[1, 2, 3], [4, 5, 6]]> : tensor<2x3xi32>
  %b = util.unfoldable_constant dense<[[1, 0], [0, 1], [1, 1]]> : tensor<3x2xi32>
  %zero = arith.constant 0 : i32
  %empty = tensor.empty() : tensor<2x2xi32>
  %init = linalg.fill ins(%zero : i32) outs(%empty : tensor<2x2xi32>) -> tensor<2x2xi32>
  %product = linalg.matmul ins(%a, %b : tensor<2x3xi32>, tensor<3x2xi32>)
                           outs(%init : tensor<2x2xi32>) -> tensor<2x2xi32>
  check.expect_eq_const(%product, dense<[[4, 5], [10, 11]]> : tensor<2x2xi32>) : tensor<2x2xi32>
  return
}

func.func @"splat.i64"() {
  %c = util.unfoldable_constant -5000000000 : i64
  %empty = tensor.empty() : tensor<3x5xi64>
  %filled = linalg.fill ins(%c : i64) outs(%empty : tensor<3x5xi64>) -> tensor<3x5xi64>
  check.expect_eq_const(%filled, dense<-5000000000> : tensor<3x5xi64>) : tensor<3x5xi64>
  return
}

func.func @"fail_wrong.value.mlir"() {
  %a = util.unfoldable_constant dense<[1, 2]> : tensor<2xi32>
  check.expect_eq_const(%a, dense<[1, 3]> : tensor<2xi32>) : tensor<2xi32>
  return
}
