// Check tests over a parameter ("model"::"weight" = [1, 2, 3, 4]), for
// `asyncvm check --parameters=model=FILE`. See tests/modules/test_io_parameters.py.
util.global private @weight = #flow.parameter.named<"model"::"weight"> : tensor<4xf32>
func.func @weight_is_loaded() {
  %w = util.global.load @weight : tensor<4xf32>
  %x = util.unfoldable_constant dense<[0.5, 0.5, 0.5, 0.5]> : tensor<4xf32>
  %y = arith.addf %w, %x : tensor<4xf32>
  check.expect_almost_eq_const(%y, dense<[1.5, 2.5, 3.5, 4.5]> : tensor<4xf32>) : tensor<4xf32>
  return
}
func.func @fail_weight_is_not_zero() {
  %w = util.global.load @weight : tensor<4xf32>
  check.expect_almost_eq_const(%w, dense<0.0> : tensor<4xf32>) : tensor<4xf32>
  return
}
