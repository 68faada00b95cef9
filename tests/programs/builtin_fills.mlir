// i64 fills the compiler cannot fold or fuse: the stream splat of a 64-bit
// value becomes the builtin dispatch `__builtin_splat_i64` (HAL fills only
// take patterns up to 32 bits).
func.func @fill_arg(%value: i64) -> tensor<4x8xi64> {
  %empty = tensor.empty() : tensor<4x8xi64>
  %filled = linalg.fill ins(%value : i64) outs(%empty : tensor<4x8xi64>) -> tensor<4x8xi64>
  return %filled : tensor<4x8xi64>
}

func.func @fill_dynamic(%value: i64, %rows: index) -> tensor<?x3xi64> {
  %empty = tensor.empty(%rows) : tensor<?x3xi64>
  %filled = linalg.fill ins(%value : i64) outs(%empty : tensor<?x3xi64>) -> tensor<?x3xi64>
  return %filled : tensor<?x3xi64>
}

func.func @fill_unfoldable() -> tensor<4x8xi64> {
  %c = util.unfoldable_constant 7 : i64
  %empty = tensor.empty() : tensor<4x8xi64>
  %filled = linalg.fill ins(%c : i64) outs(%empty : tensor<4x8xi64>) -> tensor<4x8xi64>
  return %filled : tensor<4x8xi64>
}

// A fill beside an ordinary dispatch: the export ordinals must line up with
// IREE's (every export of the kernel module, in order).
func.func @fill_and_add(%value: i64, %a: tensor<5xi64>) -> (tensor<5xi64>, tensor<2x2xi64>) {
  %empty = tensor.empty() : tensor<5xi64>
  %sum = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                         iterator_types = ["parallel"]}
      ins(%a : tensor<5xi64>) outs(%empty : tensor<5xi64>) {
  ^bb0(%x: i64, %out: i64):
    %y = arith.addi %x, %value : i64
    linalg.yield %y : i64
  } -> tensor<5xi64>
  %empty2 = tensor.empty() : tensor<2x2xi64>
  %filled = linalg.fill ins(%value : i64) outs(%empty2 : tensor<2x2xi64>) -> tensor<2x2xi64>
  return %sum, %filled : tensor<5xi64>, tensor<2x2xi64>
}
