// The model served by examples/serve.py: a two-layer classifier with a
// dynamic batch dimension (rows) and constant weights,
//   logits = relu(x @ w1 + b1) @ w2 + b2      (no softmax),
// taking x: rows x 16 features and giving rows x 4 class logits. Every row
// is computed on its own, so a batch of requests gives each request the
// rows it would have got alone. The weights are multiples of 1/8, written
// out so that every build computes the same function.
module @classifier {
  func.func @classify(%x: tensor<?x16xf32>) -> tensor<?x4xf32> {
    %c0 = arith.constant 0 : index
    %rows = tensor.dim %x, %c0 : tensor<?x16xf32>
    %zero = arith.constant 0.0 : f32
    %w1 = arith.constant dense<[
        [-0.625, 0.0, 0.625, -0.875, -0.25, 0.375, 1.0, -0.5],
        [0.25, 0.875, -0.625, 0.0, 0.625, -0.875, -0.25, 0.375],
        [-1.0, -0.375, 0.25, 0.875, -0.625, 0.0, 0.625, -0.875],
        [-0.125, 0.5, -1.0, -0.375, 0.25, 0.875, -0.625, 0.0],
        [0.75, -0.75, -0.125, 0.5, -1.0, -0.375, 0.25, 0.875],
        [-0.5, 0.125, 0.75, -0.75, -0.125, 0.5, -1.0, -0.375],
        [0.375, 1.0, -0.5, 0.125, 0.75, -0.75, -0.125, 0.5],
        [-0.875, -0.25, 0.375, 1.0, -0.5, 0.125, 0.75, -0.75],
        [0.0, 0.625, -0.875, -0.25, 0.375, 1.0, -0.5, 0.125],
        [0.875, -0.625, 0.0, 0.625, -0.875, -0.25, 0.375, 1.0],
        [-0.375, 0.25, 0.875, -0.625, 0.0, 0.625, -0.875, -0.25],
        [0.5, -1.0, -0.375, 0.25, 0.875, -0.625, 0.0, 0.625],
        [-0.75, -0.125, 0.5, -1.0, -0.375, 0.25, 0.875, -0.625],
        [0.125, 0.75, -0.75, -0.125, 0.5, -1.0, -0.375, 0.25],
        [1.0, -0.5, 0.125, 0.75, -0.75, -0.125, 0.5, -1.0],
        [-0.25, 0.375, 1.0, -0.5, 0.125, 0.75, -0.75, -0.125]]> : tensor<16x8xf32>
    %b1 = arith.constant dense<[-0.25, 0.125, -0.375, 0.0, 0.375, -0.125, 0.25, -0.25]>
        : tensor<8xf32>
    %w2 = arith.constant dense<[
        [-1.0, -0.25, 0.5, 1.25],
        [0.25, 1.0, -1.5, -0.75],
        [1.5, -1.0, -0.25, 0.5],
        [-0.5, 0.25, 1.0, -1.5],
        [0.75, 1.5, -1.0, -0.25],
        [-1.25, -0.5, 0.25, 1.0],
        [0.0, 0.75, 1.5, -1.0],
        [1.25, -1.25, -0.5, 0.25]]> : tensor<8x4xf32>
    %b2 = arith.constant dense<[0.25, -0.5, 0.125, 0.0]> : tensor<4xf32>

    // hidden = relu(x @ w1 + b1)
    %hidden_empty = tensor.empty(%rows) : tensor<?x8xf32>
    %hidden_init = linalg.fill ins(%zero : f32) outs(%hidden_empty : tensor<?x8xf32>)
        -> tensor<?x8xf32>
    %hidden_product = linalg.matmul ins(%x, %w1 : tensor<?x16xf32>, tensor<16x8xf32>)
        outs(%hidden_init : tensor<?x8xf32>) -> tensor<?x8xf32>
    %hidden = linalg.generic {
        indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>,
                         affine_map<(i, j) -> (i, j)>],
        iterator_types = ["parallel", "parallel"]}
        ins(%hidden_product, %b1 : tensor<?x8xf32>, tensor<8xf32>)
        outs(%hidden_empty : tensor<?x8xf32>) {
      ^bb0(%product: f32, %bias: f32, %out: f32):
        %sum = arith.addf %product, %bias : f32
        %relu = arith.maximumf %sum, %zero : f32
        linalg.yield %relu : f32
    } -> tensor<?x8xf32>

    // logits = hidden @ w2 + b2
    %logits_empty = tensor.empty(%rows) : tensor<?x4xf32>
    %logits_init = linalg.fill ins(%zero : f32) outs(%logits_empty : tensor<?x4xf32>)
        -> tensor<?x4xf32>
    %logits_product = linalg.matmul ins(%hidden, %w2 : tensor<?x8xf32>, tensor<8x4xf32>)
        outs(%logits_init : tensor<?x4xf32>) -> tensor<?x4xf32>
    %logits = linalg.generic {
        indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>,
                         affine_map<(i, j) -> (i, j)>],
        iterator_types = ["parallel", "parallel"]}
        ins(%logits_product, %b2 : tensor<?x4xf32>, tensor<4xf32>)
        outs(%logits_empty : tensor<?x4xf32>) {
      ^bb0(%product: f32, %bias: f32, %out: f32):
        %sum = arith.addf %product, %bias : f32
        linalg.yield %sum : f32
    } -> tensor<?x4xf32>
    return %logits : tensor<?x4xf32>
  }
}
