// iree_linalg_ext ops of IREE's tests/e2e/linalg_ext_ops (sort, scatter,
// gather, topk, arg_compare, scan, attention, map_store) and linalg ops of
// tests/e2e/linalg (softmax, pack/unpack, conv, argmax-style generic, i8
// matmul, narrow types), as functions of their inputs. Compared with IREE's
// runtime by tests/hal/test_e2e_ops.py; timed by bench/conformance.py.
// iree-compile 3.13 has no iree_linalg_ext.reverse any more (stablehlo.reverse
// is in e2e_stablehlo.mlir); the Winograd transforms do not compile for VMVX
// and are in e2e_llvm_cpu.mlir.

func.func @sort_1d(%x: tensor<17xi32>) -> tensor<17xi32> {
  %0 = iree_linalg_ext.sort dimension(0) outs(%x : tensor<17xi32>) {
  ^bb0(%a: i32, %b: i32):
    %lt = arith.cmpi slt, %a, %b : i32
    iree_linalg_ext.yield %lt : i1
  } -> tensor<17xi32>
  return %0 : tensor<17xi32>
}

// Sorts keys (descending) with their values along dimension 1.
func.func @sort_pairs(%k: tensor<3x9xf32>, %v: tensor<3x9xi32>) -> (tensor<3x9xf32>, tensor<3x9xi32>) {
  %0:2 = iree_linalg_ext.sort dimension(1) outs(%k, %v : tensor<3x9xf32>, tensor<3x9xi32>) {
  ^bb0(%a: f32, %b: f32, %c: i32, %d: i32):
    %gt = arith.cmpf ogt, %a, %b : f32
    iree_linalg_ext.yield %gt : i1
  } -> tensor<3x9xf32>, tensor<3x9xi32>
  return %0#0, %0#1 : tensor<3x9xf32>, tensor<3x9xi32>
}

func.func @scatter_set(%orig: tensor<4x5xi32>, %upd: tensor<3x5xi32>, %idx: tensor<3x1xi32>) -> tensor<4x5xi32> {
  %0 = iree_linalg_ext.scatter dimension_map = [0] unique_indices(true)
      ins(%upd, %idx : tensor<3x5xi32>, tensor<3x1xi32>) outs(%orig : tensor<4x5xi32>) {
  ^bb0(%new: i32, %old: i32):
    iree_linalg_ext.yield %new : i32
  } -> tensor<4x5xi32>
  return %0 : tensor<4x5xi32>
}

func.func @scatter_add_2d(%orig: tensor<3x4xf32>, %upd: tensor<5xf32>, %idx: tensor<5x2xi32>) -> tensor<3x4xf32> {
  %0 = iree_linalg_ext.scatter dimension_map = [1, 0] unique_indices(false)
      ins(%upd, %idx : tensor<5xf32>, tensor<5x2xi32>) outs(%orig : tensor<3x4xf32>) {
  ^bb0(%new: f32, %old: f32):
    %s = arith.addf %new, %old : f32
    iree_linalg_ext.yield %s : f32
  } -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

func.func @gather(%src: tensor<6x4xf32>, %idx: tensor<5xi32>) -> tensor<5x4xf32> {
  %empty = tensor.empty() : tensor<5x4xf32>
  %0 = iree_linalg_ext.gather dimension_map = [0]
      ins(%src, %idx : tensor<6x4xf32>, tensor<5xi32>) outs(%empty : tensor<5x4xf32>) -> tensor<5x4xf32>
  return %0 : tensor<5x4xf32>
}

func.func @topk(%x: tensor<2x10xf32>) -> (tensor<2x3xf32>, tensor<2x3xi32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0 : i32
  %ev = tensor.empty() : tensor<2x3xf32>
  %ei = tensor.empty() : tensor<2x3xi32>
  %v = linalg.fill ins(%ninf : f32) outs(%ev : tensor<2x3xf32>) -> tensor<2x3xf32>
  %i = linalg.fill ins(%zero : i32) outs(%ei : tensor<2x3xi32>) -> tensor<2x3xi32>
  %0:2 = iree_linalg_ext.topk dimension(1) ins(%x : tensor<2x10xf32>)
      outs(%v, %i : tensor<2x3xf32>, tensor<2x3xi32>) {
  ^bb0(%a: f32, %b: f32):
    %gt = arith.cmpf ogt, %a, %b : f32
    iree_linalg_ext.yield %gt : i1
  } -> tensor<2x3xf32>, tensor<2x3xi32>
  return %0#0, %0#1 : tensor<2x3xf32>, tensor<2x3xi32>
}

func.func @topk_min_i32(%x: tensor<12xi32>, %ids: tensor<12xi32>) -> (tensor<4xi32>, tensor<4xi32>) {
  %big = arith.constant 2147483647 : i32
  %zero = arith.constant 0 : i32
  %ev = tensor.empty() : tensor<4xi32>
  %v = linalg.fill ins(%big : i32) outs(%ev : tensor<4xi32>) -> tensor<4xi32>
  %i = linalg.fill ins(%zero : i32) outs(%ev : tensor<4xi32>) -> tensor<4xi32>
  %0:2 = iree_linalg_ext.topk dimension(0) ins(%x, %ids : tensor<12xi32>, tensor<12xi32>)
      outs(%v, %i : tensor<4xi32>, tensor<4xi32>) {
  ^bb0(%a: i32, %b: i32):
    %lt = arith.cmpi slt, %a, %b : i32
    iree_linalg_ext.yield %lt : i1
  } -> tensor<4xi32>, tensor<4xi32>
  return %0#0, %0#1 : tensor<4xi32>, tensor<4xi32>
}

func.func @arg_compare(%x: tensor<3x7xf32>) -> (tensor<3xf32>, tensor<3xi32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0 : i32
  %ev = tensor.empty() : tensor<3xf32>
  %ei = tensor.empty() : tensor<3xi32>
  %v = linalg.fill ins(%ninf : f32) outs(%ev : tensor<3xf32>) -> tensor<3xf32>
  %i = linalg.fill ins(%zero : i32) outs(%ei : tensor<3xi32>) -> tensor<3xi32>
  %0:2 = iree_linalg_ext.arg_compare dimension(1) ins(%x : tensor<3x7xf32>)
      outs(%v, %i : tensor<3xf32>, tensor<3xi32>) {
  ^bb0(%a: f32, %b: f32):
    %gt = arith.cmpf ogt, %a, %b : f32
    iree_linalg_ext.yield %gt : i1
  } -> tensor<3xf32>, tensor<3xi32>
  return %0#0, %0#1 : tensor<3xf32>, tensor<3xi32>
}

func.func @scan(%x: tensor<2x6xi32>, %f: tensor<7xf32>)
    -> (tensor<2x6xi32>, tensor<2xi32>, tensor<7xf32>, tensor<f32>) {
  %e = tensor.empty() : tensor<2x6xi32>
  %zero = arith.constant 0 : i32
  %ea = tensor.empty() : tensor<2xi32>
  %acc = linalg.fill ins(%zero : i32) outs(%ea : tensor<2xi32>) -> tensor<2xi32>
  %0:2 = iree_linalg_ext.scan dimension(1) inclusive(true) ins(%x : tensor<2x6xi32>)
      outs(%e, %acc : tensor<2x6xi32>, tensor<2xi32>) {
  ^bb0(%a: i32, %b: i32):
    %s = arith.addi %a, %b : i32
    iree_linalg_ext.yield %s : i32
  } -> tensor<2x6xi32>, tensor<2xi32>
  %ef = tensor.empty() : tensor<7xf32>
  %one = arith.constant 1.0 : f32
  %ef0 = tensor.empty() : tensor<f32>
  %facc = linalg.fill ins(%one : f32) outs(%ef0 : tensor<f32>) -> tensor<f32>
  %1:2 = iree_linalg_ext.scan dimension(0) inclusive(false) ins(%f : tensor<7xf32>)
      outs(%ef, %facc : tensor<7xf32>, tensor<f32>) {
  ^bb0(%a: f32, %b: f32):
    %p = arith.mulf %a, %b : f32
    iree_linalg_ext.yield %p : f32
  } -> tensor<7xf32>, tensor<f32>
  return %0#0, %0#1, %1#0, %1#1 : tensor<2x6xi32>, tensor<2xi32>, tensor<7xf32>, tensor<f32>
}

func.func @attention(%q: tensor<2x4x8xf32>, %k: tensor<2x6x8xf32>, %v: tensor<2x6x5xf32>) -> tensor<2x4x5xf32> {
  %scale = arith.constant 0.35355339 : f32
  %init = tensor.empty() : tensor<2x4x5xf32>
  %0 = iree_linalg_ext.attention <indexing_maps = [
           affine_map<(b, m, k1, n, k2) -> (b, m, k1)>,
           affine_map<(b, m, k1, n, k2) -> (b, n, k1)>,
           affine_map<(b, m, k1, n, k2) -> (b, n, k2)>,
           affine_map<(b, m, k1, n, k2) -> ()>,
           affine_map<(b, m, k1, n, k2) -> (b, m, k2)>]>
      ins(%q, %k, %v, %scale : tensor<2x4x8xf32>, tensor<2x6x8xf32>, tensor<2x6x5xf32>, f32)
      outs(%init : tensor<2x4x5xf32>) {
  ^bb0(%score: f32):
    iree_linalg_ext.yield %score : f32
  } -> tensor<2x4x5xf32>
  return %0 : tensor<2x4x5xf32>
}

func.func @map_store_transpose(%x: tensor<3x5xi32>) -> tensor<5x3xi32> {
  %true = arith.constant true
  %out = tensor.empty() : tensor<5x3xi32>
  %0 = iree_linalg_ext.map_store %x into %out {
  ^bb0(%i: index, %j: index):
    iree_linalg_ext.yield %j, %i, %true : index, index, i1
  } : tensor<3x5xi32> into tensor<5x3xi32> -> tensor<5x3xi32>
  return %0 : tensor<5x3xi32>
}

func.func @softmax(%x: tensor<3x7xf32>) -> tensor<3x7xf32> {
  %init = tensor.empty() : tensor<3x7xf32>
  %0 = linalg.softmax dimension(1) ins(%x : tensor<3x7xf32>) outs(%init : tensor<3x7xf32>) -> tensor<3x7xf32>
  return %0 : tensor<3x7xf32>
}

// Packs into 4x3 tiles (padding the ragged edge), unpacks an outer-transposed
// packing back.
func.func @pack_unpack(%x: tensor<7x10xi32>, %t: tensor<3x2x4x2xf32>)
    -> (tensor<2x4x4x3xi32>, tensor<7x6xf32>) {
  %pad = arith.constant -1 : i32
  %ep = tensor.empty() : tensor<2x4x4x3xi32>
  %0 = linalg.pack %x padding_value(%pad : i32) inner_dims_pos = [0, 1] inner_tiles = [4, 3]
      into %ep : tensor<7x10xi32> -> tensor<2x4x4x3xi32>
  %eu = tensor.empty() : tensor<7x6xf32>
  %1 = linalg.unpack %t outer_dims_perm = [1, 0] inner_dims_pos = [0, 1] inner_tiles = [4, 2]
      into %eu : tensor<3x2x4x2xf32> -> tensor<7x6xf32>
  return %0, %1 : tensor<2x4x4x3xi32>, tensor<7x6xf32>
}

// Argmax as a linalg.generic with two outputs (tests/e2e/linalg/argmax.mlir's shape).
func.func @argmax_generic(%x: tensor<4x9xf32>) -> (tensor<4xf32>, tensor<4xi32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0 : i32
  %ev = tensor.empty() : tensor<4xf32>
  %ei = tensor.empty() : tensor<4xi32>
  %v = linalg.fill ins(%ninf : f32) outs(%ev : tensor<4xf32>) -> tensor<4xf32>
  %i = linalg.fill ins(%zero : i32) outs(%ei : tensor<4xi32>) -> tensor<4xi32>
  %0:2 = linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>,
                       affine_map<(d0, d1) -> (d0)>],
      iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x9xf32>) outs(%v, %i : tensor<4xf32>, tensor<4xi32>) {
  ^bb0(%in: f32, %best: f32, %at: i32):
    %j = linalg.index 1 : index
    %ji = arith.index_cast %j : index to i32
    %gt = arith.cmpf ogt, %in, %best : f32
    %nb = arith.select %gt, %in, %best : f32
    %na = arith.select %gt, %ji, %at : i32
    linalg.yield %nb, %na : f32, i32
  } -> (tensor<4xf32>, tensor<4xi32>)
  return %0#0, %0#1 : tensor<4xf32>, tensor<4xi32>
}

func.func @conv_2d_nchw(%x: tensor<1x2x6x6xf32>, %w: tensor<3x2x3x3xf32>) -> tensor<1x3x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x3x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x2x6x6xf32>, tensor<3x2x3x3xf32>) outs(%init : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  return %0 : tensor<1x3x4x4xf32>
}

func.func @matmul_i8_i32(%a: tensor<5x12xi8>, %b: tensor<12x6xi8>, %c: tensor<5x6xi32>) -> tensor<5x6xi32> {
  %0 = linalg.matmul ins(%a, %b : tensor<5x12xi8>, tensor<12x6xi8>) outs(%c : tensor<5x6xi32>) -> tensor<5x6xi32>
  return %0 : tensor<5x6xi32>
}

// Narrow element types of tests/e2e/linalg (i4_to_f32, f32_to_i4,
// subbyte_to_fp, small_float_arith): i1 masks, i4/i2 packing, f8 conversions.
func.func @i1_mask(%a: tensor<8xf32>, %b: tensor<8xf32>, %m: tensor<8xi1>) -> (tensor<8xi1>, tensor<8xf32>) {
  %lt = arith.cmpf olt, %a, %b : tensor<8xf32>
  %both = arith.andi %lt, %m : tensor<8xi1>
  %sel = arith.select %m, %a, %b : tensor<8xi1>, tensor<8xf32>
  return %both, %sel : tensor<8xi1>, tensor<8xf32>
}

func.func @i4_dequantize(%q: tensor<4x8xi4>, %scale: tensor<4xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %0 = linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>,
                       affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%q, %scale : tensor<4x8xi4>, tensor<4xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%v: i4, %s: f32, %out: f32):
    %f = arith.sitofp %v : i4 to f32
    %r = arith.mulf %f, %s : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

func.func @to_i4_i2(%x: tensor<16xf32>, %b: tensor<16xi8>) -> (tensor<16xi4>, tensor<16xi2>) {
  %0 = arith.fptosi %x : tensor<16xf32> to tensor<16xi4>
  %1 = arith.trunci %b : tensor<16xi8> to tensor<16xi2>
  return %0, %1 : tensor<16xi4>, tensor<16xi2>
}

func.func @f8(%x: tensor<8xf32>, %e: tensor<8xf8E5M2>) -> (tensor<8xf8E4M3FN>, tensor<8xf32>) {
  %0 = arith.truncf %x : tensor<8xf32> to tensor<8xf8E4M3FN>
  %1 = arith.extf %e : tensor<8xf8E5M2> to tensor<8xf32>
  return %0, %1 : tensor<8xf8E4M3FN>, tensor<8xf32>
}

// IREE's e2e tests take their inputs from util.unfoldable_constant: the
// constant is then used where it may be updated in place.
func.func @sort_unfoldable_constant(%bias: tensor<6xi32>) -> tensor<6xi32> {
  %x = util.unfoldable_constant dense<[3, -1, 4, 1, -5, 9]> : tensor<6xi32>
  %0 = iree_linalg_ext.sort dimension(0) outs(%x : tensor<6xi32>) {
  ^bb0(%a: i32, %b: i32):
    %lt = arith.cmpi slt, %a, %b : i32
    iree_linalg_ext.yield %lt : i1
  } -> tensor<6xi32>
  %1 = arith.addi %0, %bias : tensor<6xi32>
  return %1 : tensor<6xi32>
}

func.func @scatter_into_unfoldable_constant(%upd: tensor<2x3xi32>, %idx: tensor<2x1xi32>) -> tensor<4x3xi32> {
  %orig = util.unfoldable_constant dense<[[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]> : tensor<4x3xi32>
  %0 = iree_linalg_ext.scatter dimension_map = [0] unique_indices(true)
      ins(%upd, %idx : tensor<2x3xi32>, tensor<2x1xi32>) outs(%orig : tensor<4x3xi32>) {
  ^bb0(%new: i32, %old: i32):
    iree_linalg_ext.yield %new : i32
  } -> tensor<4x3xi32>
  return %0 : tensor<4x3xi32>
}
