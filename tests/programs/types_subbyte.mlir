// Sub-byte element types at the ABI: i4 and i2 tensors are packed (two i4 or
// four i2 to a byte, low bits first); i1 tensors are one byte per element
// (IREE 3.13 cannot pass packed i1 across the ABI). Every function compiles
// for VMVX and llvm-cpu. Identity functions go through an optimization
// barrier so they still touch the HAL.
func.func @add_i4(%a: tensor<4xi4>, %b: tensor<4xi4>) -> tensor<4xi4> {
  %0 = arith.addi %a, %b : tensor<4xi4>
  return %0 : tensor<4xi4>
}

func.func @mul_i4(%a: tensor<2x4xi4>, %b: tensor<2x4xi4>) -> tensor<2x4xi4> {
  %0 = arith.muli %a, %b : tensor<2x4xi4>
  return %0 : tensor<2x4xi4>
}

func.func @extsi_i4(%a: tensor<8xi4>) -> tensor<8xi32> {
  %0 = arith.extsi %a : tensor<8xi4> to tensor<8xi32>
  return %0 : tensor<8xi32>
}

func.func @extui_i4(%a: tensor<8xi4>) -> tensor<8xi32> {
  %0 = arith.extui %a : tensor<8xi4> to tensor<8xi32>
  return %0 : tensor<8xi32>
}

func.func @trunc_i4(%a: tensor<8xi32>) -> tensor<8xi4> {
  %0 = arith.trunci %a : tensor<8xi32> to tensor<8xi4>
  return %0 : tensor<8xi4>
}

func.func @sitofp_i4(%a: tensor<2x4xi4>) -> tensor<2x4xf32> {
  %0 = arith.sitofp %a : tensor<2x4xi4> to tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// The sum in i4 and, to read it where IREE's tools cannot print i4, widened.
func.func @add_i4_widened(%a: tensor<4xi4>, %b: tensor<4xi4>) -> tensor<4xi32> {
  %0 = arith.addi %a, %b : tensor<4xi4>
  %1 = arith.extsi %0 : tensor<4xi4> to tensor<4xi32>
  return %1 : tensor<4xi32>
}

func.func @id_si4(%a: tensor<4xsi4>) -> tensor<4xsi4> {
  %0 = util.optimization_barrier %a : tensor<4xsi4>
  return %0 : tensor<4xsi4>
}

func.func @id_ui4(%a: tensor<4xui4>) -> tensor<4xui4> {
  %0 = util.optimization_barrier %a : tensor<4xui4>
  return %0 : tensor<4xui4>
}

func.func @add_i2(%a: tensor<8xi2>, %b: tensor<8xi2>) -> tensor<8xi2> {
  %0 = arith.addi %a, %b : tensor<8xi2>
  return %0 : tensor<8xi2>
}

func.func @extsi_i2(%a: tensor<8xi2>) -> tensor<8xi8> {
  %0 = arith.extsi %a : tensor<8xi2> to tensor<8xi8>
  return %0 : tensor<8xi8>
}

func.func @trunc_i2(%a: tensor<2x4xi32>) -> tensor<2x4xi2> {
  %0 = arith.trunci %a : tensor<2x4xi32> to tensor<2x4xi2>
  return %0 : tensor<2x4xi2>
}

func.func @not_i1(%a: tensor<4xi1>) -> tensor<4xi1> {
  %t = arith.constant dense<true> : tensor<4xi1>
  %0 = arith.xori %a, %t : tensor<4xi1>
  return %0 : tensor<4xi1>
}

func.func @less_i1(%a: tensor<5xi32>, %b: tensor<5xi32>) -> tensor<5xi1> {
  %0 = arith.cmpi slt, %a, %b : tensor<5xi32>
  return %0 : tensor<5xi1>
}

func.func @select_i1(%c: tensor<4xi1>, %a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %0 = arith.select %c, %a, %b : tensor<4xi1>, tensor<4xf32>
  return %0 : tensor<4xf32>
}

func.func @id_i1(%a: tensor<2x3xi1>) -> tensor<2x3xi1> {
  %0 = util.optimization_barrier %a : tensor<2x3xi1>
  return %0 : tensor<2x3xi1>
}

func.func @id_i4(%a: tensor<2x4xi4>) -> tensor<2x4xi4> {
  %0 = util.optimization_barrier %a : tensor<2x4xi4>
  return %0 : tensor<2x4xi4>
}
