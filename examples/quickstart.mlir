// A small host program for the quickstart: integer loops and calls.
func.func @collatz_steps(%start: i64) -> i32 {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %one = arith.constant 1 : i64
  %two = arith.constant 2 : i64
  %three = arith.constant 3 : i64
  %r:2 = scf.while (%n = %start, %steps = %c0) : (i64, i32) -> (i64, i32) {
    %more = arith.cmpi sgt, %n, %one : i64
    scf.condition(%more) %n, %steps : i64, i32
  } do {
  ^bb0(%n: i64, %steps: i32):
    %rem = arith.remsi %n, %two : i64
    %zero = arith.constant 0 : i64
    %odd = arith.cmpi ne, %rem, %zero : i64
    %tripled = arith.muli %n, %three : i64
    %up = arith.addi %tripled, %one : i64
    %down = arith.divsi %n, %two : i64
    %next = arith.select %odd, %up, %down : i64
    %s = arith.addi %steps, %c1 : i32
    scf.yield %next, %s : i64, i32
  }
  return %r#1 : i32
}

func.func @gcd(%a: i32, %b: i32) -> i32 {
  %c0 = arith.constant 0 : i32
  %r:2 = scf.while (%x = %a, %y = %b) : (i32, i32) -> (i32, i32) {
    %nonzero = arith.cmpi ne, %y, %c0 : i32
    scf.condition(%nonzero) %x, %y : i32, i32
  } do {
  ^bb0(%x: i32, %y: i32):
    %m = arith.remsi %x, %y : i32
    scf.yield %y, %m : i32, i32
  }
  return %r#0 : i32
}

// A tensor function: runs on the default HAL device (local-sync, VMVX kernels).
func.func @affine(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>, %b: tensor<2xf32>) -> tensor<2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<2x2xf32>) -> tensor<2x2xf32>
  %m = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  %bb = linalg.broadcast ins(%b : tensor<2xf32>) outs(%empty : tensor<2x2xf32>) dimensions = [0]
  %r = arith.addf %m, %bb : tensor<2x2xf32>
  return %r : tensor<2x2xf32>
}
