// Check tests: every exported no-argument function is a test; fail_* must fail.
func.func @add_matches() {
  %a = util.unfoldable_constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %b = util.unfoldable_constant dense<[0.5, 0.5, 0.5, 0.5]> : tensor<4xf32>
  %c = arith.addf %a, %b : tensor<4xf32>
  check.expect_almost_eq_const(%c, dense<[1.5, 2.5, 3.5, 4.5]> : tensor<4xf32>) : tensor<4xf32>
  return
}

func.func @integers_equal() {
  %a = util.unfoldable_constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi32>
  %b = arith.muli %a, %a : tensor<2x2xi32>
  check.expect_eq_const(%b, dense<[[1, 4], [9, 16]]> : tensor<2x2xi32>) : tensor<2x2xi32>
  return
}

func.func @scalar_true() {
  %x = util.unfoldable_constant 7 : i32
  %zero = arith.constant 0 : i32
  %ne = arith.cmpi ne, %x, %zero : i32
  %flag = arith.extui %ne : i1 to i32
  check.expect_true(%flag) : i32
  check.expect_false(%zero) : i32
  return
}

func.func @fail_wrong_value() {
  %a = util.unfoldable_constant dense<[1, 2, 3]> : tensor<3xi32>
  %b = arith.addi %a, %a : tensor<3xi32>
  check.expect_eq_const(%b, dense<[2, 4, 7]> : tensor<3xi32>) : tensor<3xi32>
  return
}

func.func @fail_not_close() {
  %a = util.unfoldable_constant dense<[1.0, 2.0]> : tensor<2xf32>
  check.expect_almost_eq_const(%a, dense<[1.0, 2.5]> : tensor<2xf32>) : tensor<2xf32>
  return
}

func.func @wrongly_failing() {
  %a = util.unfoldable_constant dense<[1, 2]> : tensor<2xi32>
  check.expect_eq_const(%a, dense<[1, 3]> : tensor<2xi32>) : tensor<2xi32>
  return
}
