// Big enough that llvm-cpu tiles it into many workgroups (16 on a generic CPU).
func.func @layer(%x: tensor<96x256xf32>, %w: tensor<256x160xf32>, %b: tensor<96x160xf32>)
    -> tensor<96x160xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<96x160xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<96x160xf32>) -> tensor<96x160xf32>
  %mm = linalg.matmul ins(%x, %w : tensor<96x256xf32>, tensor<256x160xf32>)
                      outs(%init : tensor<96x160xf32>) -> tensor<96x160xf32>
  %sum = arith.addf %mm, %b : tensor<96x160xf32>
  %relu = arith.maximumf %sum, %init : tensor<96x160xf32>
  return %relu : tensor<96x160xf32>
}
