// A small model with a dynamic batch dimension (rows), for the batcher:
// y = relu(x @ w + b) and, per row, the sum of x.
func.func @predict(%x: tensor<?x8xf32>) -> (tensor<?x4xf32>, tensor<?xf32>) {
  %c0 = arith.constant 0 : index
  %rows = tensor.dim %x, %c0 : tensor<?x8xf32>
  %w = arith.constant dense<[[0.5, -1.0, 0.25, 2.0], [1.0, 0.0, -0.5, 0.125],
                             [-0.75, 0.5, 1.5, -2.0], [0.0, 1.0, 1.0, 0.5],
                             [2.0, -0.25, 0.0, 1.0], [-1.0, 0.75, 0.5, 0.0],
                             [0.125, 0.0, -1.0, 1.5], [1.0, 1.0, 1.0, -1.0]]> : tensor<8x4xf32>
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty(%rows) : tensor<?x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x4xf32>) -> tensor<?x4xf32>
  %mm = linalg.matmul ins(%x, %w : tensor<?x8xf32>, tensor<8x4xf32>) outs(%init : tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%mm : tensor<?x4xf32>) outs(%empty : tensor<?x4xf32>) {
    ^bb0(%a: f32, %out: f32):
      %r = arith.maximumf %a, %zero : f32
      linalg.yield %r : f32
  } -> tensor<?x4xf32>
  %sempty = tensor.empty(%rows) : tensor<?xf32>
  %sinit = linalg.fill ins(%zero : f32) outs(%sempty : tensor<?xf32>) -> tensor<?xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<?x8xf32>) outs(%sinit : tensor<?xf32>) {
    ^bb0(%a: f32, %acc: f32):
      %t = arith.addf %acc, %a : f32
      linalg.yield %t : f32
  } -> tensor<?xf32>
  return %y, %s : tensor<?x4xf32>, tensor<?xf32>
}

// The same model compiled for one static batch of 8 rows, with the weights
// as an argument (a fixed argument of the batcher).
func.func @predict8(%x: tensor<8x8xf32>, %w: tensor<8x4xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<8x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<8x4xf32>) -> tensor<8x4xf32>
  %mm = linalg.matmul ins(%x, %w : tensor<8x8xf32>, tensor<8x4xf32>) outs(%init : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %mm : tensor<8x4xf32>
}

// Fails (through a check on the host) when the first element of x is negative.
func.func @strict(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %c0 = arith.constant 0 : index
  %first = tensor.extract %x[%c0, %c0] : tensor<?x8xf32>
  %zero = arith.constant 0.0 : f32
  %ok = arith.cmpf oge, %first, %zero : f32
  cf.assert %ok, "negative input"
  return %x : tensor<?x8xf32>
}
