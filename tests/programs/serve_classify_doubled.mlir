// A second build of a `classify` with the signature of
// examples/serve_model.mlir (rows x 16 -> rows x 4) but another answer: each
// row's first four features doubled. The Ray Serve tests roll it in over
// the first to tell the two versions' answers apart.
module @classifier {
  func.func @classify(%x: tensor<?x16xf32>) -> tensor<?x4xf32> {
    %c0 = arith.constant 0 : index
    %rows = tensor.dim %x, %c0 : tensor<?x16xf32>
    %first = tensor.extract_slice %x[0, 0] [%rows, 4] [1, 1] : tensor<?x16xf32> to tensor<?x4xf32>
    %doubled = arith.addf %first, %first : tensor<?x4xf32>
    return %doubled : tensor<?x4xf32>
  }
}
