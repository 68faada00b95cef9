// y = (x @ weight + bias) * scale + offset, from parameters in three scopes: "model"
// (weight, bias), "extra" (scale, a #stream.parameter) and the empty scope (offset).
// See tests/modules/test_io_parameters.py.
util.global private @weight = #flow.parameter.named<"model"::"weight"> : tensor<4x8xf32>
util.global private @bias = #flow.parameter.named<"model"::"bias"> : tensor<8xf32>
util.global private @scale = #stream.parameter.named<"extra"::"scale"> : tensor<8xf32>
util.global private @offset = #flow.parameter.named<"offset"> : tensor<8xi32>
func.func @predict(%x: tensor<2x4xf32>) -> tensor<2x8xf32> {
  %w = util.global.load @weight : tensor<4x8xf32>
  %b = util.global.load @bias : tensor<8xf32>
  %s = util.global.load @scale : tensor<8xf32>
  %o = util.global.load @offset : tensor<8xi32>
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<2x8xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%empty : tensor<2x8xf32>) -> tensor<2x8xf32>
  %mm = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x8xf32>) outs(%fill : tensor<2x8xf32>) -> tensor<2x8xf32>
  %out = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%mm, %b, %s, %o : tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xi32>) outs(%empty : tensor<2x8xf32>) {
  ^bb0(%m: f32, %bb: f32, %ss: f32, %oo: i32, %unused: f32):
    %t = arith.addf %m, %bb : f32
    %u = arith.mulf %t, %ss : f32
    %of = arith.sitofp %oo : i32 to f32
    %v = arith.addf %u, %of : f32
    linalg.yield %v : f32
  } -> tensor<2x8xf32>
  return %out : tensor<2x8xf32>
}
