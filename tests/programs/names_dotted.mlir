// Functions whose own names contain dots, as IREE's e2e tests name them
// (`@"i32i32.i32"`); their dispatches (and linked VMVX kernels) carry the
// dots on (`_i32i32.i32_dispatch_0_...`).
func.func @"i32i32.i32"(%a: tensor<2x3xi32>, %b: tensor<3x2xi32>) -> tensor<2x2xi32> {
  %zero = arith.constant 0 : i32
  %empty = tensor.empty() : tensor<2x2xi32>
  %init = linalg.fill ins(%zero : i32) outs(%empty : tensor<2x2xi32>) -> tensor<2x2xi32>
  %product = linalg.matmul ins(%a, %b : tensor<2x3xi32>, tensor<3x2xi32>)
                           outs(%init : tensor<2x2xi32>) -> tensor<2x2xi32>
  return %product : tensor<2x2xi32>
}

func.func @"dot.general.f32"(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %sum = arith.addf %a, %b : tensor<4xf32>
  %product = arith.mulf %sum, %b : tensor<4xf32>
  return %product : tensor<4xf32>
}

// Starts with the name of a module of the program ("hal."): still this
// module's own function when looked up by its full text.
func.func @"hal.not_the_hal"(%x: i32) -> i32 {
  %c3 = arith.constant 3 : i32
  %y = arith.muli %x, %c3 : i32
  return %y : i32
}

func.func @"scalar.i64.add"(%x: i64, %y: i64) -> i64 {
  %z = arith.addi %x, %y : i64
  return %z : i64
}

func.func @plain(%x: i32) -> i32 {
  %y = call @"hal.not_the_hal"(%x) : (i32) -> i32
  return %y : i32
}
