// A classifier whose last step is a native kernel: kernels.softmax comes from
// a tvm-ffi library (examples/native_kernels.cc), loaded as module "kernels".
func.func private @kernels.softmax(tensor<?x3xf32>) -> tensor<?x3xf32>

func.func @classify(%x: tensor<?x4xf32>, %w: tensor<4x3xf32>) -> tensor<?x3xf32> {
  %c0 = arith.constant 0 : index
  %rows = tensor.dim %x, %c0 : tensor<?x4xf32>
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty(%rows) : tensor<?x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x3xf32>) -> tensor<?x3xf32>
  %logits = linalg.matmul ins(%x, %w : tensor<?x4xf32>, tensor<4x3xf32>)
                          outs(%init : tensor<?x3xf32>) -> tensor<?x3xf32>
  %probabilities = call @kernels.softmax(%logits) : (tensor<?x3xf32>) -> tensor<?x3xf32>
  return %probabilities : tensor<?x3xf32>
}
