// Functions of every shape the Open Inference Protocol server carries, for
// tests/serving/test_serve_protocol.py (each served as a model named after it).

// Batched (every tensor has a dynamic leading dimension): per row,
// y = relu(x @ w + b). Each row is computed on its own.
func.func @rows(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x8xf32>
  %w = arith.constant dense<[[0.3, -1.1, 0.25, 2.0], [1.0, 0.7, -0.5, 0.125],
                             [-0.75, 0.5, 1.5, -2.1], [0.1, 1.0, 1.0, 0.5],
                             [2.0, -0.25, 0.3, 1.0], [-1.0, 0.75, 0.5, 0.9],
                             [0.125, 0.2, -1.0, 1.5], [1.0, 1.3, 1.0, -1.0]]> : tensor<8x4xf32>
  %b = arith.constant dense<[0.1, -0.2, 0.3, 0.05]> : tensor<4xf32>
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty(%n) : tensor<?x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x4xf32>) -> tensor<?x4xf32>
  %mm = linalg.matmul ins(%x, %w : tensor<?x8xf32>, tensor<8x4xf32>)
      outs(%init : tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>,
                                        affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%mm, %b : tensor<?x4xf32>, tensor<4xf32>) outs(%empty : tensor<?x4xf32>) {
    ^bb0(%a: f32, %bias: f32, %out: f32):
      %s = arith.addf %a, %bias : f32
      %r = arith.maximumf %s, %zero : f32
      linalg.yield %r : f32
  } -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// Static shapes, two inputs and two outputs: (a + b, a * b).
func.func @pair(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %sum = arith.addf %a, %b : tensor<2x3xf32>
  %product = arith.mulf %a, %b : tensor<2x3xf32>
  return %sum, %product : tensor<2x3xf32>, tensor<2x3xf32>
}

// A scalar f32 and a tensor: s * x + 0.1.
func.func @scale(%s: f32, %x: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %c = arith.constant 0.1 : f32
  %y = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%v: f32, %out: f32):
      %m = arith.mulf %v, %s : f32
      %r = arith.addf %m, %c : f32
      linalg.yield %r : f32
  } -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// A scalar i32 and an i32 tensor of any length: x + n (wrapping).
func.func @offset(%n: i32, %x: tensor<?xi32>) -> tensor<?xi32> {
  %c0 = arith.constant 0 : index
  %len = tensor.dim %x, %c0 : tensor<?xi32>
  %e = tensor.empty(%len) : tensor<?xi32>
  %y = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%x : tensor<?xi32>) outs(%e : tensor<?xi32>) {
    ^bb0(%v: i32, %out: i32):
      %r = arith.addi %v, %n : i32
      linalg.yield %r : i32
  } -> tensor<?xi32>
  return %y : tensor<?xi32>
}

// Batched i64: 3 * x - 1 (wrapping).
func.func @wide(%x: tensor<?x2xi64>) -> tensor<?x2xi64> {
  %three = arith.constant dense<3> : tensor<2xi64>
  %one = arith.constant 1 : i64
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x2xi64>
  %e = tensor.empty(%n) : tensor<?x2xi64>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>,
                                        affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x, %three : tensor<?x2xi64>, tensor<2xi64>) outs(%e : tensor<?x2xi64>) {
    ^bb0(%v: i64, %t: i64, %out: i64):
      %m = arith.muli %v, %t : i64
      %r = arith.subi %m, %one : i64
      linalg.yield %r : i64
  } -> tensor<?x2xi64>
  return %y : tensor<?x2xi64>
}

// Booleans in and out: where(mask, x, -x) and x > 0.
func.func @choose(%mask: tensor<5xi1>, %x: tensor<5xf32>) -> (tensor<5xf32>, tensor<5xi1>) {
  %zero = arith.constant dense<0.0> : tensor<5xf32>
  %negated = arith.negf %x : tensor<5xf32>
  %chosen = arith.select %mask, %x, %negated : tensor<5xi1>, tensor<5xf32>
  %positive = arith.cmpf ogt, %x, %zero : tensor<5xf32>
  return %chosen, %positive : tensor<5xf32>, tensor<5xi1>
}

// Fails (a host-side check) when the first element of x is negative.
func.func @strict(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %first = tensor.extract %x[%c0] : tensor<4xf32>
  %zero = arith.constant 0.0 : f32
  %ok = arith.cmpf oge, %first, %zero : f32
  cf.assert %ok, "the first element is negative"
  %y = arith.addf %x, %x : tensor<4xf32>
  return %y : tensor<4xf32>
}

// Counts to n on the host, one step at a time: slow for a large n.
func.func @spin(%n: i32) -> i32 {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %c0) -> (i32) : i32 {
    %next = arith.addi %acc, %c1 : i32
    scf.yield %next : i32
  }
  return %r : i32
}
