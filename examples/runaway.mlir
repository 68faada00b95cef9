// A kernel whose running time comes from an input (examples/deadlines.py):
// every element of %x is iterated %n[i] times through t -> t/2 + 1/2 inside
// the dispatch (an scf.for in the linalg body, so the loop runs in the
// kernel, not on the host). With %n at 2**31 - 1 it runs for hours.
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
