// StableHLO ops of IREE's tests/e2e/stablehlo_ops, as functions of their
// inputs (nothing constant-folds). Compared with IREE's runtime by
// tests/hal/test_e2e_ops.py; timed by bench/conformance.py.

func.func @arith_f32(%a: tensor<3x4xf32>, %b: tensor<3x4xf32>)
    -> (tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>,
        tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>) {
  %add = stablehlo.add %a, %b : tensor<3x4xf32>
  %sub = stablehlo.subtract %a, %b : tensor<3x4xf32>
  %mul = stablehlo.multiply %a, %b : tensor<3x4xf32>
  %div = stablehlo.divide %a, %b : tensor<3x4xf32>
  %rem = stablehlo.remainder %a, %b : tensor<3x4xf32>
  %max = stablehlo.maximum %a, %b : tensor<3x4xf32>
  %min = stablehlo.minimum %a, %b : tensor<3x4xf32>
  %neg = stablehlo.negate %a : tensor<3x4xf32>
  return %add, %sub, %mul, %div, %rem, %max, %min, %neg
      : tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>,
        tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>
}

func.func @arith_i32(%a: tensor<8xi32>, %b: tensor<8xi32>)
    -> (tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>) {
  %add = stablehlo.add %a, %b : tensor<8xi32>
  %mul = stablehlo.multiply %a, %b : tensor<8xi32>
  %div = stablehlo.divide %a, %b : tensor<8xi32>
  %rem = stablehlo.remainder %a, %b : tensor<8xi32>
  %abs = stablehlo.abs %a : tensor<8xi32>
  %max = stablehlo.maximum %a, %b : tensor<8xi32>
  return %add, %mul, %div, %rem, %abs, %max
      : tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>
}

func.func @power_f32(%a: tensor<6xf32>, %b: tensor<6xf32>) -> tensor<6xf32> {
  %0 = stablehlo.power %a, %b : tensor<6xf32>
  return %0 : tensor<6xf32>
}

func.func @power_i32(%a: tensor<6xi32>, %b: tensor<6xi32>) -> tensor<6xi32> {
  %0 = stablehlo.power %a, %b : tensor<6xi32>
  return %0 : tensor<6xi32>
}

func.func @compare_select(%a: tensor<8xf32>, %b: tensor<8xf32>, %i: tensor<8xi32>, %j: tensor<8xi32>)
    -> (tensor<8xf32>, tensor<8xf32>, tensor<8xi32>, tensor<8xi32>) {
  %gt = stablehlo.compare GT, %a, %b, FLOAT : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
  %s0 = stablehlo.select %gt, %a, %b : tensor<8xi1>, tensor<8xf32>
  %le = stablehlo.compare LE, %a, %b, FLOAT : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
  %s1 = stablehlo.select %le, %a, %b : tensor<8xi1>, tensor<8xf32>
  %lt = stablehlo.compare LT, %i, %j, SIGNED : (tensor<8xi32>, tensor<8xi32>) -> tensor<8xi1>
  %s2 = stablehlo.select %lt, %i, %j : tensor<8xi1>, tensor<8xi32>
  %ltu = stablehlo.compare LT, %i, %j, UNSIGNED : (tensor<8xi32>, tensor<8xi32>) -> tensor<8xi1>
  %eq = stablehlo.compare EQ, %i, %j, SIGNED : (tensor<8xi32>, tensor<8xi32>) -> tensor<8xi1>
  %either = stablehlo.or %ltu, %eq : tensor<8xi1>
  %s3 = stablehlo.select %either, %i, %j : tensor<8xi1>, tensor<8xi32>
  return %s0, %s1, %s2, %s3 : tensor<8xf32>, tensor<8xf32>, tensor<8xi32>, tensor<8xi32>
}

func.func @clamp(%lo: tensor<f32>, %x: tensor<2x5xf32>, %hi: tensor<f32>, %ilo: tensor<2x5xi32>,
                 %ix: tensor<2x5xi32>, %ihi: tensor<2x5xi32>) -> (tensor<2x5xf32>, tensor<2x5xi32>) {
  %0 = stablehlo.clamp %lo, %x, %hi : (tensor<f32>, tensor<2x5xf32>, tensor<f32>) -> tensor<2x5xf32>
  %1 = stablehlo.clamp %ilo, %ix, %ihi : tensor<2x5xi32>
  return %0, %1 : tensor<2x5xf32>, tensor<2x5xi32>
}

func.func @convert(%f: tensor<8xf32>, %i: tensor<8xi32>, %b: tensor<8xi8>)
    -> (tensor<8xi32>, tensor<8xf32>, tensor<8xi8>, tensor<8xi32>, tensor<8xf32>, tensor<8xi16>) {
  %0 = stablehlo.convert %f : (tensor<8xf32>) -> tensor<8xi32>
  %1 = stablehlo.convert %i : (tensor<8xi32>) -> tensor<8xf32>
  %2 = stablehlo.convert %i : (tensor<8xi32>) -> tensor<8xi8>
  %3 = stablehlo.convert %b : (tensor<8xi8>) -> tensor<8xi32>
  %5 = stablehlo.convert %b : (tensor<8xi8>) -> tensor<8xf32>
  %6 = stablehlo.convert %f : (tensor<8xf32>) -> tensor<8xi16>
  return %0, %1, %2, %3, %5, %6
      : tensor<8xi32>, tensor<8xf32>, tensor<8xi8>, tensor<8xi32>, tensor<8xf32>, tensor<8xi16>
}

func.func @dot_f32(%a: tensor<4x8xf32>, %b: tensor<8x5xf32>, %v: tensor<8xf32>)
    -> (tensor<4x5xf32>, tensor<4xf32>) {
  %0 = stablehlo.dot %a, %b : (tensor<4x8xf32>, tensor<8x5xf32>) -> tensor<4x5xf32>
  %1 = stablehlo.dot %a, %v : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4xf32>
  return %0, %1 : tensor<4x5xf32>, tensor<4xf32>
}

func.func @dot_i32(%a: tensor<3x6xi32>, %b: tensor<6x2xi32>) -> tensor<3x2xi32> {
  %0 = stablehlo.dot %a, %b : (tensor<3x6xi32>, tensor<6x2xi32>) -> tensor<3x2xi32>
  return %0 : tensor<3x2xi32>
}

func.func @dot_general_f32(%a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>) -> tensor<2x3x5xf32> {
  %0 = stablehlo.dot_general %a, %b, batching_dims = [0] x [0], contracting_dims = [2] x [1]
      : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32>
  return %0 : tensor<2x3x5xf32>
}

func.func @dot_general_i8(%a: tensor<2x3x16xi8>, %b: tensor<2x5x16xi8>) -> tensor<2x3x5xi32> {
  %0 = stablehlo.dot_general %a, %b, batching_dims = [0] x [0], contracting_dims = [2] x [2]
      : (tensor<2x3x16xi8>, tensor<2x5x16xi8>) -> tensor<2x3x5xi32>
  return %0 : tensor<2x3x5xi32>
}

func.func @convolution(%x: tensor<1x6x6x2xf32>, %w: tensor<3x3x2x3xf32>) -> tensor<1x4x4x3xf32> {
  %0 = stablehlo.convolution(%x, %w)
      dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f],
      window = {stride = [1, 1], pad = [[0, 0], [0, 0]], rhs_dilate = [1, 1]}
      {batch_group_count = 1 : i64, feature_group_count = 1 : i64}
      : (tensor<1x6x6x2xf32>, tensor<3x3x2x3xf32>) -> tensor<1x4x4x3xf32>
  return %0 : tensor<1x4x4x3xf32>
}

func.func @convolution_strided_padded(%x: tensor<1x2x7x7xf32>, %w: tensor<4x2x3x3xf32>) -> tensor<1x4x4x4xf32> {
  %0 = stablehlo.convolution(%x, %w)
      dim_numbers = [b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1],
      window = {stride = [2, 2], pad = [[1, 1], [1, 1]], rhs_dilate = [1, 1]}
      {batch_group_count = 1 : i64, feature_group_count = 1 : i64}
      : (tensor<1x2x7x7xf32>, tensor<4x2x3x3xf32>) -> tensor<1x4x4x4xf32>
  return %0 : tensor<1x4x4x4xf32>
}

func.func @reduce(%x: tensor<4x6xf32>, %i: tensor<4x6xi32>) -> (tensor<4xf32>, tensor<6xf32>, tensor<4xi32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<f32>
  %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>
  %imin = stablehlo.constant dense<-2147483648> : tensor<i32>
  %sum = stablehlo.reduce(%x init: %zero) applies stablehlo.add across dimensions = [1]
      : (tensor<4x6xf32>, tensor<f32>) -> tensor<4xf32>
  %max = stablehlo.reduce(%x init: %ninf) applies stablehlo.maximum across dimensions = [0]
      : (tensor<4x6xf32>, tensor<f32>) -> tensor<6xf32>
  %imax = stablehlo.reduce(%i init: %imin) applies stablehlo.maximum across dimensions = [1]
      : (tensor<4x6xi32>, tensor<i32>) -> tensor<4xi32>
  return %sum, %max, %imax : tensor<4xf32>, tensor<6xf32>, tensor<4xi32>
}

func.func @reduce_window(%x: tensor<1x4x6x1xf32>) -> (tensor<1x2x3x1xf32>, tensor<1x3x5x1xf32>) {
  %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>
  %zero = stablehlo.constant dense<0.0> : tensor<f32>
  %max = "stablehlo.reduce_window"(%x, %ninf) ({
  ^bb0(%p: tensor<f32>, %q: tensor<f32>):
    %m = stablehlo.maximum %p, %q : tensor<f32>
    stablehlo.return %m : tensor<f32>
  }) {window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 2, 2, 1>}
      : (tensor<1x4x6x1xf32>, tensor<f32>) -> tensor<1x2x3x1xf32>
  %sum = "stablehlo.reduce_window"(%x, %zero) ({
  ^bb0(%p: tensor<f32>, %q: tensor<f32>):
    %s = stablehlo.add %p, %q : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) {window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 1, 1, 1>}
      : (tensor<1x4x6x1xf32>, tensor<f32>) -> tensor<1x3x5x1xf32>
  return %max, %sum : tensor<1x2x3x1xf32>, tensor<1x3x5x1xf32>
}

func.func @shapes(%v: tensor<3xf32>, %m: tensor<2x3x4xi32>, %a: tensor<2x3xf32>, %b: tensor<2x2xf32>)
    -> (tensor<2x4x3xf32>, tensor<4x6xi32>, tensor<4x3x2xi32>, tensor<2x5xf32>, tensor<1x2x2xi32>) {
  %bc = stablehlo.broadcast_in_dim %v, dims = [2] : (tensor<3xf32>) -> tensor<2x4x3xf32>
  %rs = stablehlo.reshape %m : (tensor<2x3x4xi32>) -> tensor<4x6xi32>
  %tr = stablehlo.transpose %m, dims = [2, 1, 0] : (tensor<2x3x4xi32>) -> tensor<4x3x2xi32>
  %cc = stablehlo.concatenate %a, %b, dim = 1 : (tensor<2x3xf32>, tensor<2x2xf32>) -> tensor<2x5xf32>
  %sl = stablehlo.slice %m [1:2, 0:3:2, 1:4:2] : (tensor<2x3x4xi32>) -> tensor<1x2x2xi32>
  return %bc, %rs, %tr, %cc, %sl
      : tensor<2x4x3xf32>, tensor<4x6xi32>, tensor<4x3x2xi32>, tensor<2x5xf32>, tensor<1x2x2xi32>
}

func.func @dynamic_slice(%x: tensor<5x6xf32>, %i: tensor<i32>, %j: tensor<i32>) -> tensor<2x3xf32> {
  %0 = stablehlo.dynamic_slice %x, %i, %j, sizes = [2, 3]
      : (tensor<5x6xf32>, tensor<i32>, tensor<i32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// Updates 2x%x (a temporary: the update may then happen in place).
func.func @dynamic_update_slice(%x: tensor<5x6xi32>, %u: tensor<2x3xi32>, %i: tensor<i32>, %j: tensor<i32>)
    -> tensor<5x6xi32> {
  %twice = stablehlo.add %x, %x : tensor<5x6xi32>
  %0 = stablehlo.dynamic_update_slice %twice, %u, %i, %j
      : (tensor<5x6xi32>, tensor<2x3xi32>, tensor<i32>, tensor<i32>) -> tensor<5x6xi32>
  return %0 : tensor<5x6xi32>
}

func.func @pad(%x: tensor<2x3xf32>, %v: tensor<f32>, %y: tensor<5xi32>) -> (tensor<6x6xf32>, tensor<4xi32>) {
  %0 = stablehlo.pad %x, %v, low = [1, 0], high = [2, 1], interior = [1, 1]
      : (tensor<2x3xf32>, tensor<f32>) -> tensor<6x6xf32>
  %zero = stablehlo.constant dense<7> : tensor<i32>
  %1 = stablehlo.pad %y, %zero, low = [-2], high = [1], interior = [0]
      : (tensor<5xi32>, tensor<i32>) -> tensor<4xi32>
  return %0, %1 : tensor<6x6xf32>, tensor<4xi32>
}

func.func @gather(%x: tensor<5x3xf32>, %idx: tensor<4xi32>) -> tensor<4x3xf32> {
  %i = stablehlo.reshape %idx : (tensor<4xi32>) -> tensor<4x1xi32>
  %0 = "stablehlo.gather"(%x, %i) {
    dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0],
                                          start_index_map = [0], index_vector_dim = 1>,
    slice_sizes = array<i64: 1, 3>, indices_are_sorted = false
  } : (tensor<5x3xf32>, tensor<4x1xi32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

func.func @gather_2d(%x: tensor<4x5xi32>, %idx: tensor<3x2xi32>) -> tensor<3x2x2xi32> {
  %0 = "stablehlo.gather"(%x, %idx) {
    dimension_numbers = #stablehlo.gather<offset_dims = [1, 2], collapsed_slice_dims = [],
                                          start_index_map = [0, 1], index_vector_dim = 1>,
    slice_sizes = array<i64: 2, 2>, indices_are_sorted = false
  } : (tensor<4x5xi32>, tensor<3x2xi32>) -> tensor<3x2x2xi32>
  return %0 : tensor<3x2x2xi32>
}

func.func @scatter_add(%x: tensor<5x3xf32>, %idx: tensor<4x1xi32>, %u: tensor<4x3xf32>) -> tensor<5x3xf32> {
  %0 = "stablehlo.scatter"(%x, %idx, %u) ({
  ^bb0(%old: tensor<f32>, %new: tensor<f32>):
    %s = stablehlo.add %old, %new : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) {
    scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0],
                                                   scatter_dims_to_operand_dims = [0], index_vector_dim = 1>,
    indices_are_sorted = false, unique_indices = false
  } : (tensor<5x3xf32>, tensor<4x1xi32>, tensor<4x3xf32>) -> tensor<5x3xf32>
  return %0 : tensor<5x3xf32>
}

func.func @scatter_replace(%x: tensor<8xi32>, %idx: tensor<3x1xi32>, %u: tensor<3xi32>) -> tensor<8xi32> {
  %0 = "stablehlo.scatter"(%x, %idx, %u) ({
  ^bb0(%old: tensor<i32>, %new: tensor<i32>):
    stablehlo.return %new : tensor<i32>
  }) {
    scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [], inserted_window_dims = [0],
                                                   scatter_dims_to_operand_dims = [0], index_vector_dim = 1>,
    indices_are_sorted = false, unique_indices = true
  } : (tensor<8xi32>, tensor<3x1xi32>, tensor<3xi32>) -> tensor<8xi32>
  return %0 : tensor<8xi32>
}

func.func @sort(%k: tensor<3x8xf32>, %v: tensor<3x8xi32>) -> (tensor<3x8xf32>, tensor<3x8xi32>) {
  %0:2 = "stablehlo.sort"(%k, %v) ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>, %c: tensor<i32>, %d: tensor<i32>):
    %lt = stablehlo.compare LT, %a, %b, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  }) {dimension = 1 : i64, is_stable = true} : (tensor<3x8xf32>, tensor<3x8xi32>) -> (tensor<3x8xf32>, tensor<3x8xi32>)
  return %0#0, %0#1 : tensor<3x8xf32>, tensor<3x8xi32>
}

func.func @sort_i32_descending(%k: tensor<10xi32>) -> tensor<10xi32> {
  %0 = "stablehlo.sort"(%k) ({
  ^bb0(%a: tensor<i32>, %b: tensor<i32>):
    %gt = stablehlo.compare GT, %a, %b, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %gt : tensor<i1>
  }) {dimension = 0 : i64, is_stable = false} : (tensor<10xi32>) -> tensor<10xi32>
  return %0 : tensor<10xi32>
}

func.func @iota_reverse(%x: tensor<3x4xi32>, %f: tensor<3x4xf32>) -> (tensor<3x4xi32>, tensor<3x4xf32>) {
  %io = stablehlo.iota dim = 1 : tensor<3x4xi32>
  %0 = stablehlo.add %x, %io : tensor<3x4xi32>
  %1 = stablehlo.reverse %f, dims = [0, 1] : tensor<3x4xf32>
  return %0, %1 : tensor<3x4xi32>, tensor<3x4xf32>
}

func.func @transcendental(%x: tensor<16xf32>, %p: tensor<16xf32>)
    -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>,
        tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %exp = stablehlo.exponential %x : tensor<16xf32>
  %log = stablehlo.log %p : tensor<16xf32>
  %tanh = stablehlo.tanh %x : tensor<16xf32>
  %sig = stablehlo.logistic %x : tensor<16xf32>
  %sqrt = stablehlo.sqrt %p : tensor<16xf32>
  %rsqrt = stablehlo.rsqrt %p : tensor<16xf32>
  %sin = stablehlo.sine %x : tensor<16xf32>
  %cos = stablehlo.cosine %x : tensor<16xf32>
  %expm1 = stablehlo.exponential_minus_one %x : tensor<16xf32>
  %log1p = stablehlo.log_plus_one %p : tensor<16xf32>
  return %exp, %log, %tanh, %sig, %sqrt, %rsqrt, %sin, %cos, %expm1, %log1p
      : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>,
        tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// (stablehlo.sign and popcnt do not compile for VMVX in iree-compile 3.13.)
func.func @bits(%x: tensor<8xf32>, %i: tensor<8xi32>, %s: tensor<8xi32>)
    -> (tensor<8xi32>, tensor<8xi1>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>,
        tensor<8xi32>, tensor<8xi32>) {
  %bits = stablehlo.bitcast_convert %x : (tensor<8xf32>) -> tensor<8xi32>
  %finite = stablehlo.is_finite %x : (tensor<8xf32>) -> tensor<8xi1>
  %not = stablehlo.not %i : tensor<8xi32>
  %shl = stablehlo.shift_left %i, %s : tensor<8xi32>
  %sra = stablehlo.shift_right_arithmetic %i, %s : tensor<8xi32>
  %srl = stablehlo.shift_right_logical %i, %s : tensor<8xi32>
  %clz = stablehlo.count_leading_zeros %i : tensor<8xi32>
  return %bits, %finite, %not, %shl, %sra, %srl, %clz
      : tensor<8xi32>, tensor<8xi1>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>,
        tensor<8xi32>, tensor<8xi32>
}

func.func @batch_norm_inference(%x: tensor<2x3x4xf32>, %scale: tensor<4xf32>, %offset: tensor<4xf32>,
                                %mean: tensor<4xf32>, %variance: tensor<4xf32>) -> tensor<2x3x4xf32> {
  %0 = "stablehlo.batch_norm_inference"(%x, %scale, %offset, %mean, %variance)
      {epsilon = 1.0e-3 : f32, feature_index = 2 : i64}
      : (tensor<2x3x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
  return %0 : tensor<2x3x4xf32>
}

func.func @rfft(%x: tensor<2x8xf32>) -> (tensor<2x5xf32>, tensor<2x5xf32>) {
  %0 = stablehlo.fft %x, type = RFFT, length = [8] : (tensor<2x8xf32>) -> tensor<2x5xcomplex<f32>>
  %1 = stablehlo.real %0 : (tensor<2x5xcomplex<f32>>) -> tensor<2x5xf32>
  %2 = stablehlo.imag %0 : (tensor<2x5xcomplex<f32>>) -> tensor<2x5xf32>
  return %1, %2 : tensor<2x5xf32>, tensor<2x5xf32>
}

func.func @rounding(%x: tensor<12xf32>)
    -> (tensor<12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<12xf32>) {
  %afz = stablehlo.round_nearest_afz %x : tensor<12xf32>
  %even = stablehlo.round_nearest_even %x : tensor<12xf32>
  %floor = stablehlo.floor %x : tensor<12xf32>
  %ceil = stablehlo.ceil %x : tensor<12xf32>
  return %afz, %even, %floor, %ceil : tensor<12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<12xf32>
}

// Doubles %x until its sum reaches %limit (at most 20 times); returns the value
// and the count.
func.func @while_loop(%x: tensor<4xf32>, %limit: tensor<f32>) -> (tensor<4xf32>, tensor<i32>) {
  %zero = stablehlo.constant dense<0> : tensor<i32>
  %one = stablehlo.constant dense<1> : tensor<i32>
  %fzero = stablehlo.constant dense<0.0> : tensor<f32>
  %cap = stablehlo.constant dense<20> : tensor<i32>
  %r:2 = stablehlo.while(%v = %x, %n = %zero) : tensor<4xf32>, tensor<i32>
   cond {
    %s = stablehlo.reduce(%v init: %fzero) applies stablehlo.add across dimensions = [0]
        : (tensor<4xf32>, tensor<f32>) -> tensor<f32>
    %c = stablehlo.compare LT, %s, %limit, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %small = stablehlo.compare LT, %n, %cap, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    %both = stablehlo.and %c, %small : tensor<i1>
    stablehlo.return %both : tensor<i1>
  } do {
    %d = stablehlo.add %v, %v : tensor<4xf32>
    %m = stablehlo.add %n, %one : tensor<i32>
    stablehlo.return %d, %m : tensor<4xf32>, tensor<i32>
  }
  return %r#0, %r#1 : tensor<4xf32>, tensor<i32>
}

func.func @case(%index: tensor<i32>, %x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "stablehlo.case"(%index) ({
    %a = stablehlo.add %x, %x : tensor<4xf32>
    stablehlo.return %a : tensor<4xf32>
  }, {
    %m = stablehlo.multiply %x, %x : tensor<4xf32>
    stablehlo.return %m : tensor<4xf32>
  }, {
    %n = stablehlo.negate %x : tensor<4xf32>
    stablehlo.return %n : tensor<4xf32>
  }) : (tensor<i32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// Scatter into a constant operand (IREE's e2e tests scatter into
// util.unfoldable_constant tensors): the constant must not be written in place.
func.func @scatter_into_constant(%idx: tensor<2x1xi32>, %u: tensor<2xi32>) -> tensor<4xi32> {
  %x = stablehlo.constant dense<[1, 2, 3, 4]> : tensor<4xi32>
  %0 = "stablehlo.scatter"(%x, %idx, %u) ({
  ^bb0(%old: tensor<i32>, %new: tensor<i32>):
    %s = stablehlo.add %old, %new : tensor<i32>
    stablehlo.return %s : tensor<i32>
  }) {
    scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [], inserted_window_dims = [0],
                                                   scatter_dims_to_operand_dims = [0], index_vector_dim = 1>,
    indices_are_sorted = false, unique_indices = false
  } : (tensor<4xi32>, tensor<2x1xi32>, tensor<2xi32>) -> tensor<4xi32>
  return %0 : tensor<4xi32>
}
