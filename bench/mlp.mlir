// A 3-layer MLP, 512 wide, batch 32, weights passed in: bench/mlp.py.
func.func @mlp(%x: tensor<32x512xf32>, %w1: tensor<512x512xf32>, %w2: tensor<512x512xf32>,
               %w3: tensor<512x512xf32>) -> tensor<32x512xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<32x512xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<32x512xf32>) -> tensor<32x512xf32>
  %h1 = linalg.matmul ins(%x, %w1 : tensor<32x512xf32>, tensor<512x512xf32>) outs(%init : tensor<32x512xf32>) -> tensor<32x512xf32>
  %r1 = arith.maximumf %h1, %init : tensor<32x512xf32>
  %h2 = linalg.matmul ins(%r1, %w2 : tensor<32x512xf32>, tensor<512x512xf32>) outs(%init : tensor<32x512xf32>) -> tensor<32x512xf32>
  %r2 = arith.maximumf %h2, %init : tensor<32x512xf32>
  %h3 = linalg.matmul ins(%r2, %w3 : tensor<32x512xf32>, tensor<512x512xf32>) outs(%init : tensor<32x512xf32>) -> tensor<32x512xf32>
  return %h3 : tensor<32x512xf32>
}
