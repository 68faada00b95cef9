// asyncvm profiles: a call with enough work per dispatch to time (a matmul,
// then an elementwise step and a row reduction kept apart by a barrier).
func.func @work(%a: tensor<16x16xf32>, %b: tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16xf32>) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<16x16xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<16x16xf32>) -> tensor<16x16xf32>
  %product = linalg.matmul ins(%a, %b : tensor<16x16xf32>, tensor<16x16xf32>)
                           outs(%init : tensor<16x16xf32>) -> tensor<16x16xf32>
  %kept = util.optimization_barrier %product : tensor<16x16xf32>
  %scaled = arith.mulf %kept, %a : tensor<16x16xf32>
  %kept2 = util.optimization_barrier %scaled : tensor<16x16xf32>
  %sums_empty = tensor.empty() : tensor<16xf32>
  %sums_init = linalg.fill ins(%zero : f32) outs(%sums_empty : tensor<16xf32>) -> tensor<16xf32>
  %sums = linalg.reduce ins(%kept2 : tensor<16x16xf32>) outs(%sums_init : tensor<16xf32>) dimensions = [1]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  return %kept2, %sums : tensor<16x16xf32>, tensor<16xf32>
}
