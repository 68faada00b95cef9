// A mutable global initialized from a parameter (loaded without
// SHARING_IMMUTABLE usage) next to a constant one: each call of @step adds
// (constant + x) to the state and returns it. See tests/modules/test_io_parameters.py.
util.global private mutable @state = #flow.parameter.named<"model"::"state"> : tensor<4xf32>
util.global private @step_size = #flow.parameter.named<"model"::"step_size"> : tensor<4xf32>
func.func @step(%x: tensor<4xf32>) -> tensor<4xf32> {
  %s = util.global.load @state : tensor<4xf32>
  %c = util.global.load @step_size : tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]} ins(%s, %c, %x : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %d: f32, %o: f32):
    %t = arith.addf %a, %b : f32
    %u = arith.addf %t, %d : f32
    linalg.yield %u : f32
  } -> tensor<4xf32>
  util.global.store %r, @state : tensor<4xf32>
  return %r : tensor<4xf32>
}
