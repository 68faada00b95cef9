// The tensor program bench/fuzz.py mutates (built for VMVX and llvm-cpu):
// a dense layer over a dynamic batch, an iterated map whose trip count is an
// input, and a reduction: dispatches with constants, dynamic shapes,
// workgroup counts computed on the host, and a transient buffer between
// dispatches.
func.func @dense(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xf32>
  %w = arith.constant dense<[[0.5, -1.0, 0.25], [1.0, 0.0, -0.5], [-0.75, 0.5, 1.5], [0.0, 1.0, 1.0]]> : tensor<4x3xf32>
  %b = arith.constant dense<[0.125, -0.25, 0.5]> : tensor<3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty(%n) : tensor<?x3xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<?x3xf32>) -> tensor<?x3xf32>
  %m = linalg.matmul ins(%x, %w : tensor<?x4xf32>, tensor<4x3xf32>) outs(%z : tensor<?x3xf32>) -> tensor<?x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>,
                                        affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%m, %b : tensor<?x3xf32>, tensor<3xf32>) outs(%e : tensor<?x3xf32>) {
    ^bb0(%a: f32, %c: f32, %o: f32):
      %s = arith.addf %a, %c : f32
      %t = arith.maximumf %s, %zero : f32
      linalg.yield %t : f32
  } -> tensor<?x3xf32>
  return %r : tensor<?x3xf32>
}

func.func @spin(%x: tensor<?xf32>, %n: tensor<?xi32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %size = tensor.dim %x, %c0 : tensor<?xf32>
  %init = tensor.empty(%size) : tensor<?xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>,
                                        affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%x, %n : tensor<?xf32>, tensor<?xi32>) outs(%init : tensor<?xf32>) {
    ^bb0(%a: f32, %count: i32, %o: f32):
      %zero = arith.constant 0 : index
      %one = arith.constant 1 : index
      %half = arith.constant 0.5 : f32
      %bound = arith.index_cast %count : i32 to index
      %s = scf.for %i = %zero to %bound step %one iter_args(%acc = %a) -> (f32) {
        %m = arith.mulf %acc, %half : f32
        %p = arith.addf %m, %half : f32
        scf.yield %p : f32
      }
      linalg.yield %s : f32
  } -> tensor<?xf32>
  return %r : tensor<?xf32>
}

func.func @total(%x: tensor<?xf32>) -> tensor<f32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> ()>],
                       iterator_types = ["reduction"]}
      ins(%x : tensor<?xf32>) outs(%z : tensor<f32>) {
    ^bb0(%a: f32, %acc: f32):
      %s = arith.addf %a, %acc : f32
      linalg.yield %s : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}
