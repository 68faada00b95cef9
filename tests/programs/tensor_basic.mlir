// Tensor programs for the HAL + VMVX path, compared with IREE's runtime.
func.func @add(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %0 = arith.addf %a, %b : tensor<4xf32>
  return %0 : tensor<4xf32>
}

func.func @scale_rows(%m: tensor<3x4xf32>, %v: tensor<4xf32>) -> tensor<3x4xf32> {
  %empty = tensor.empty() : tensor<3x4xf32>
  %b = linalg.broadcast ins(%v : tensor<4xf32>) outs(%empty : tensor<3x4xf32>) dimensions = [0]
  %0 = arith.mulf %m, %b : tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

func.func @matmul(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x16xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x16xf32>) -> tensor<4x16xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x16xf32>) outs(%init : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

func.func @row_sums(%m: tensor<3x5xf32>) -> tensor<3xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.reduce ins(%m : tensor<3x5xf32>) outs(%init : tensor<3xf32>) dimensions = [1]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  return %0 : tensor<3xf32>
}

func.func @transpose(%m: tensor<2x3xi32>) -> tensor<3x2xi32> {
  %empty = tensor.empty() : tensor<3x2xi32>
  %0 = linalg.transpose ins(%m : tensor<2x3xi32>) outs(%empty : tensor<3x2xi32>) permutation = [1, 0]
  return %0 : tensor<3x2xi32>
}

func.func @concat(%a: tensor<2xi64>, %b: tensor<3xi64>) -> tensor<5xi64> {
  %0 = tensor.concat dim(0) %a, %b : (tensor<2xi64>, tensor<3xi64>) -> tensor<5xi64>
  return %0 : tensor<5xi64>
}

func.func @small_ints(%a: tensor<4xi8>, %b: tensor<4xi16>) -> (tensor<4xi8>, tensor<4xi16>) {
  %0 = arith.addi %a, %a : tensor<4xi8>
  %1 = arith.muli %b, %b : tensor<4xi16>
  return %0, %1 : tensor<4xi8>, tensor<4xi16>
}

func.func @with_constant(%a: tensor<4xi32>) -> tensor<4xi32> {
  %c = arith.constant dense<[10, -20, 30, -40]> : tensor<4xi32>
  %0 = arith.addi %a, %c : tensor<4xi32>
  return %0 : tensor<4xi32>
}

func.func @dynamic(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?xf32> {
  %0 = arith.subf %a, %b : tensor<?xf32>
  return %0 : tensor<?xf32>
}

func.func @branchy(%a: tensor<4xf32>, %flag: i32) -> tensor<4xf32> {
  %zero = arith.constant 0 : i32
  %cond = arith.cmpi ne, %flag, %zero : i32
  %r = scf.if %cond -> tensor<4xf32> {
    %d = arith.addf %a, %a : tensor<4xf32>
    scf.yield %d : tensor<4xf32>
  } else {
    %n = arith.negf %a : tensor<4xf32>
    scf.yield %n : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}

func.func @dynamic_matmul(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = tensor.dim %a, %c0 : tensor<?x?xf32>
  %n = tensor.dim %b, %c1 : tensor<?x?xf32>
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty(%m, %n) : tensor<?x?xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x?xf32>) -> tensor<?x?xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<?x?xf32>, tensor<?x?xf32>) outs(%init : tensor<?x?xf32>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

func.func @int8_matmul(%a: tensor<4x8xi8>, %b: tensor<8x4xi8>) -> tensor<4x4xi32> {
  %zero = arith.constant 0 : i32
  %empty = tensor.empty() : tensor<4x4xi32>
  %init = linalg.fill ins(%zero : i32) outs(%empty : tensor<4x4xi32>) -> tensor<4x4xi32>
  %0 = linalg.matmul ins(%a, %b : tensor<4x8xi8>, tensor<8x4xi8>) outs(%init : tensor<4x4xi32>) -> tensor<4x4xi32>
  return %0 : tensor<4x4xi32>
}
