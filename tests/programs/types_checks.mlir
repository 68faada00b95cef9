// Check tests on bf16, the f8 types, i4, i2 and i1: every exported
// no-argument function is a test; fail_* must fail. Compiles for VMVX and
// llvm-cpu (bf16 goes through f32 for its arithmetic: VMVX has no bf16 add).
func.func @bf16_almost_eq() {
  %a = util.unfoldable_constant dense<[1.0, 2.5, -3.0, 100.0]> : tensor<4xbf16>
  %e = arith.extf %a : tensor<4xbf16> to tensor<4xf32>
  %s = arith.mulf %e, %e : tensor<4xf32>
  %r = arith.truncf %s : tensor<4xf32> to tensor<4xbf16>
  check.expect_almost_eq_const(%r, dense<[1.0, 6.25, 9.0, 10000.0]> : tensor<4xbf16>) : tensor<4xbf16>
  return
}

func.func @bf16_tolerance() {
  %a = util.unfoldable_constant dense<[0.1, 0.2, 0.3]> : tensor<3xbf16>
  %b = util.unfoldable_constant dense<[0.1001, 0.2002, 0.2998]> : tensor<3xbf16>
  check.expect_almost_eq(%a, %b, atol 1.0e-2, rtol 0.0) : tensor<3xbf16>
  return
}

func.func @bf16_eq() {
  %a = util.unfoldable_constant dense<[1.5, -0.0, 0x7FC0]> : tensor<3xbf16>
  %b = util.optimization_barrier %a : tensor<3xbf16>
  check.expect_eq(%a, %b) : tensor<3xbf16>
  return
}

func.func @f8E4M3FN_add() {
  %a = util.unfoldable_constant dense<[0.0, 1.0, 2.0, 4.0]> : tensor<4xf8E4M3FN>
  %s = arith.addf %a, %a : tensor<4xf8E4M3FN>
  check.expect_almost_eq_const(%s, dense<[0.0, 2.0, 4.0, 8.0]> : tensor<4xf8E4M3FN>) : tensor<4xf8E4M3FN>
  return
}

func.func @f8E5M2_mul() {
  %a = util.unfoldable_constant dense<[1.0, 2.0, 4.0, 8.0]> : tensor<4xf8E5M2>
  %b = util.unfoldable_constant dense<[2.0, 2.0, 2.0, -0.5]> : tensor<4xf8E5M2>
  %m = arith.mulf %a, %b : tensor<4xf8E5M2>
  check.expect_almost_eq_const(%m, dense<[2.0, 4.0, 8.0, -4.0]> : tensor<4xf8E5M2>) : tensor<4xf8E5M2>
  return
}

func.func @f8E4M3FNUZ_trunc() {
  %a = util.unfoldable_constant dense<[0.3, 1.0, 240.0, -2.0]> : tensor<4xf32>
  %t = arith.truncf %a : tensor<4xf32> to tensor<4xf8E4M3FNUZ>
  check.expect_almost_eq_const(%t, dense<[0.3, 1.0, 240.0, -2.0]> : tensor<4xf8E4M3FNUZ>, atol 0.0, rtol 0.0) : tensor<4xf8E4M3FNUZ>
  return
}

func.func @f8E5M2FNUZ_ext() {
  %a = util.unfoldable_constant dense<[0.25, 1.5, -57344.0, 3.0]> : tensor<4xf8E5M2FNUZ>
  %e = arith.extf %a : tensor<4xf8E5M2FNUZ> to tensor<4xf32>
  check.expect_almost_eq_const(%e, dense<[0.25, 1.5, -57344.0, 3.0]> : tensor<4xf32>) : tensor<4xf32>
  return
}

func.func @f8E8M0FNU_eq() {
  %a = util.unfoldable_constant dense<[0.25, 1.0, 1024.0]> : tensor<3xf8E8M0FNU>
  %b = util.optimization_barrier %a : tensor<3xf8E8M0FNU>
  check.expect_eq_const(%b, dense<[0.25, 1.0, 1024.0]> : tensor<3xf8E8M0FNU>) : tensor<3xf8E8M0FNU>
  return
}

func.func @i4_add() {
  %a = util.unfoldable_constant dense<[1, 2, 3, -8]> : tensor<4xi4>
  %b = util.unfoldable_constant dense<[1, 1, 4, 7]> : tensor<4xi4>
  %s = arith.addi %a, %b : tensor<4xi4>
  check.expect_eq_const(%s, dense<[2, 3, 7, -1]> : tensor<4xi4>) : tensor<4xi4>
  return
}

func.func @i4_representation_2d() {
  %a = util.unfoldable_constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi4>
  %b = util.optimization_barrier %a : tensor<2x2xi4>
  check.expect_eq_const(%b, dense<[[1, 2], [3, 4]]> : tensor<2x2xi4>) : tensor<2x2xi4>
  return
}

func.func @i2_trunc() {
  %a = util.unfoldable_constant dense<[0, 1, 2, 3, 4, -1, -2, 5]> : tensor<8xi32>
  %t = arith.trunci %a : tensor<8xi32> to tensor<8xi2>
  check.expect_eq_const(%t, dense<[0, 1, -2, -1, 0, -1, -2, 1]> : tensor<8xi2>) : tensor<8xi2>
  return
}

func.func @i1_compare() {
  %a = util.unfoldable_constant dense<[1, 5, 3, 0]> : tensor<4xi32>
  %b = util.unfoldable_constant dense<[2, 4, 3, 1]> : tensor<4xi32>
  %c = arith.cmpi slt, %a, %b : tensor<4xi32>
  check.expect_eq_const(%c, dense<[true, false, false, true]> : tensor<4xi1>) : tensor<4xi1>
  return
}

// Packed i1 exists only inside a program in IREE 3.13 (the ABI cannot carry
// #iree_encoding.packed_storage): eight flags to a byte, first flag lowest.
func.func @i1_packed_inside() {
  %in = util.unfoldable_constant dense<[1, 1, 0, 0, 0, 0, 1, 1]> : tensor<8xi8>
  %empty = tensor.empty() : tensor<8xi1, #iree_encoding.packed_storage>
  %flags = linalg.generic
      {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
       iterator_types = ["parallel"]}
      ins(%in : tensor<8xi8>) outs(%empty : tensor<8xi1, #iree_encoding.packed_storage>) {
    ^bb0(%x: i8, %out: i1):
      %zero = arith.constant 0 : i8
      %positive = arith.cmpi sgt, %x, %zero : i8
      linalg.yield %positive : i1
  } -> tensor<8xi1, #iree_encoding.packed_storage>
  %bytes = flow.tensor.bitcast %flags : tensor<8xi1, #iree_encoding.packed_storage> -> tensor<1xi8>
  check.expect_eq_const(%bytes, dense<[195]> : tensor<1xi8>) : tensor<1xi8>
  return
}

func.func @fail_bf16_not_close() {
  %a = util.unfoldable_constant dense<[1.0, 2.0]> : tensor<2xbf16>
  check.expect_almost_eq_const(%a, dense<[1.0, 2.5]> : tensor<2xbf16>) : tensor<2xbf16>
  return
}

func.func @fail_f8E4M3FN_not_close() {
  %a = util.unfoldable_constant dense<[1.0, 2.0]> : tensor<2xf8E4M3FN>
  check.expect_almost_eq_const(%a, dense<[1.0, 2.25]> : tensor<2xf8E4M3FN>, atol 0.1, rtol 0.0) : tensor<2xf8E4M3FN>
  return
}

func.func @fail_i4_wrong_value() {
  %a = util.unfoldable_constant dense<[1, 2, 3, 4]> : tensor<4xi4>
  %b = arith.addi %a, %a : tensor<4xi4>
  check.expect_eq_const(%b, dense<[2, 4, 6, 7]> : tensor<4xi4>) : tensor<4xi4>
  return
}

func.func @fail_f8E5M2_exact() {
  %a = util.unfoldable_constant dense<[1.0, 2.0]> : tensor<2xf8E5M2>
  %b = util.optimization_barrier %a : tensor<2xf8E5M2>
  check.expect_almost_eq(%a, %b, atol 0.0, rtol 0.0) : tensor<2xf8E5M2>
  check.expect_almost_eq_const(%b, dense<[1.0, 2.5]> : tensor<2xf8E5M2>, atol 0.0, rtol 0.0) : tensor<2xf8E5M2>
  return
}
