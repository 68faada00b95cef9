// tensor dialect ops of IREE's tests/e2e/tensor_ops (extract_slice,
// insert_slice, pad, expand/collapse_shape, concat, cast, extract), as
// functions of their inputs. Compared with IREE's runtime by
// tests/hal/test_e2e_ops.py; timed by bench/conformance.py.

func.func @extract_slice(%x: tensor<6x8xf32>, %l: tensor<5xi64>)
    -> (tensor<3x4xf32>, tensor<8xf32>, tensor<2xi64>) {
  %0 = tensor.extract_slice %x[1, 0] [3, 4] [2, 2] : tensor<6x8xf32> to tensor<3x4xf32>
  %1 = tensor.extract_slice %x[4, 0] [1, 8] [1, 1] : tensor<6x8xf32> to tensor<8xf32>
  %2 = tensor.extract_slice %l[1] [2] [2] : tensor<5xi64> to tensor<2xi64>
  return %0, %1, %2 : tensor<3x4xf32>, tensor<8xf32>, tensor<2xi64>
}

// Rows %i .. %i+2 of %x: the offset comes from a tensor, so the slice is dynamic.
func.func @extract_slice_dynamic(%x: tensor<8x6xf32>, %i: tensor<i32>) -> tensor<3x6xf32> {
  %e = tensor.extract %i[] : tensor<i32>
  %o = arith.index_cast %e : i32 to index
  %0 = tensor.extract_slice %x[%o, 0] [3, 6] [1, 1] : tensor<8x6xf32> to tensor<3x6xf32>
  return %0 : tensor<3x6xf32>
}

func.func @insert_slice(%dst: tensor<5x6xi32>, %src: tensor<2x3xi32>, %v: tensor<4xi8>, %w: tensor<2xi8>)
    -> (tensor<5x6xi32>, tensor<4xi8>) {
  %0 = tensor.insert_slice %src into %dst[1, 2] [2, 3] [2, 1] : tensor<2x3xi32> into tensor<5x6xi32>
  %1 = tensor.insert_slice %w into %v[1] [2] [1] : tensor<2xi8> into tensor<4xi8>
  return %0, %1 : tensor<5x6xi32>, tensor<4xi8>
}

// Inserts into a constant (IREE's e2e tests insert into constants): the
// constant must not be written in place.
func.func @insert_slice_into_constant(%src: tensor<2x2xi32>) -> tensor<3x4xi32> {
  %dst = arith.constant dense<[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]> : tensor<3x4xi32>
  %0 = tensor.insert_slice %src into %dst[1, 1] [2, 2] [1, 1] : tensor<2x2xi32> into tensor<3x4xi32>
  return %0 : tensor<3x4xi32>
}

func.func @pad(%x: tensor<2x3xf32>, %v: tensor<f32>, %i: tensor<3xi32>) -> (tensor<3x6xf32>, tensor<6xi32>) {
  %pv = tensor.extract %v[] : tensor<f32>
  %0 = tensor.pad %x low[1, 2] high[0, 1] {
  ^bb0(%a: index, %b: index):
    tensor.yield %pv : f32
  } : tensor<2x3xf32> to tensor<3x6xf32>
  %c = arith.constant -7 : i32
  %1 = tensor.pad %i low[2] high[1] {
  ^bb0(%a: index):
    tensor.yield %c : i32
  } : tensor<3xi32> to tensor<6xi32>
  return %0, %1 : tensor<3x6xf32>, tensor<6xi32>
}

// An i64 pad value: IREE fills i64 with a builtin splat executable.
func.func @pad_i64(%x: tensor<3xi64>) -> tensor<7xi64> {
  %c = arith.constant 81985529216486895 : i64
  %0 = tensor.pad %x low[1] high[3] {
  ^bb0(%a: index):
    tensor.yield %c : i64
  } : tensor<3xi64> to tensor<7xi64>
  return %0 : tensor<7xi64>
}

func.func @reshapes(%x: tensor<2x3x4xf32>, %y: tensor<12xi32>)
    -> (tensor<6x4xf32>, tensor<24xf32>, tensor<2x2x3xi32>, tensor<1x12x1xi32>) {
  %0 = tensor.collapse_shape %x [[0, 1], [2]] : tensor<2x3x4xf32> into tensor<6x4xf32>
  %1 = tensor.collapse_shape %x [[0, 1, 2]] : tensor<2x3x4xf32> into tensor<24xf32>
  %2 = tensor.expand_shape %y [[0, 1, 2]] output_shape [2, 2, 3] : tensor<12xi32> into tensor<2x2x3xi32>
  %3 = tensor.expand_shape %y [[0, 1, 2]] output_shape [1, 12, 1] : tensor<12xi32> into tensor<1x12x1xi32>
  // Make the reshapes materialize: add the results to themselves.
  %a = arith.addf %0, %0 : tensor<6x4xf32>
  %b = arith.mulf %1, %1 : tensor<24xf32>
  %c = arith.addi %2, %2 : tensor<2x2x3xi32>
  return %a, %b, %c, %3 : tensor<6x4xf32>, tensor<24xf32>, tensor<2x2x3xi32>, tensor<1x12x1xi32>
}

func.func @concat(%a: tensor<2x3xf32>, %b: tensor<2x1xf32>, %c: tensor<2x2xf32>, %i: tensor<3xi8>, %j: tensor<2xi8>)
    -> (tensor<2x6xf32>, tensor<5xi8>) {
  %0 = tensor.concat dim(1) %a, %b, %c : (tensor<2x3xf32>, tensor<2x1xf32>, tensor<2x2xf32>) -> tensor<2x6xf32>
  %1 = tensor.concat dim(0) %i, %j : (tensor<3xi8>, tensor<2xi8>) -> tensor<5xi8>
  return %0, %1 : tensor<2x6xf32>, tensor<5xi8>
}

func.func @concat_dynamic(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?xf32> {
  %0 = tensor.concat dim(0) %a, %b : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// Gather as tensor.extract inside linalg.generic (tensor.gather does not
// lower in iree-compile 3.13; tests/e2e/linalg/gather_like_ops.mlir does this).
func.func @gather_extract(%src: tensor<4x5xi32>, %rows: tensor<3xi32>) -> tensor<3x5xi32> {
  %e = tensor.empty() : tensor<3x5xi32>
  %0 = linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%rows : tensor<3xi32>) outs(%e : tensor<3x5xi32>) {
  ^bb0(%r: i32, %out: i32):
    %ri = arith.index_cast %r : i32 to index
    %c = linalg.index 1 : index
    %v = tensor.extract %src[%ri, %c] : tensor<4x5xi32>
    linalg.yield %v : i32
  } -> tensor<3x5xi32>
  return %0 : tensor<3x5xi32>
}

func.func @cast(%x: tensor<?x4xf32>) -> tensor<3x4xf32> {
  %0 = tensor.cast %x : tensor<?x4xf32> to tensor<3x4xf32>
  %1 = arith.negf %0 : tensor<3x4xf32>
  return %1 : tensor<3x4xf32>
}

// tensor.extract of single elements, tensor.from_elements, and a fill with a
// value from a tensor.
func.func @elements(%x: tensor<3x3xf32>, %v: tensor<f32>) -> (tensor<3xf32>, tensor<2x2xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %a = tensor.extract %x[%c0, %c0] : tensor<3x3xf32>
  %b = tensor.extract %x[%c1, %c1] : tensor<3x3xf32>
  %c = tensor.extract %x[%c2, %c2] : tensor<3x3xf32>
  %0 = tensor.from_elements %a, %b, %c : tensor<3xf32>
  %s = tensor.extract %v[] : tensor<f32>
  %e = tensor.empty() : tensor<2x2xf32>
  %1 = linalg.fill ins(%s : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0, %1 : tensor<3xf32>, tensor<2x2xf32>
}

// IREE's e2e tests take their inputs from util.unfoldable_constant: the
// constant is then used where it may be updated in place.
func.func @insert_slice_into_unfoldable_constant(%src: tensor<2xi32>) -> tensor<5xi32> {
  %dst = util.unfoldable_constant dense<[1, 2, 3, 4, 5]> : tensor<5xi32>
  %0 = tensor.insert_slice %src into %dst[1] [2] [1] : tensor<2xi32> into tensor<5xi32>
  return %0 : tensor<5xi32>
}
