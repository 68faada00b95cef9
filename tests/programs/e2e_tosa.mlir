// TOSA ops of IREE's tests/e2e/tosa_ops (and the TOSA ops its models use), as
// functions of their inputs. Compared with IREE's runtime by
// tests/hal/test_e2e_ops.py; timed by bench/conformance.py.
// TOSA 1.0 as iree-compile 3.13 reads it: zero points, shifts and shapes are
// operands. Ops with attributes are in MLIR's generic form ("tosa.op"(...)
// <{...}>), which does not depend on TOSA's custom assembly of the day.

func.func @arith_f32(%a: tensor<3x4xf32>, %b: tensor<3x4xf32>, %row: tensor<1x4xf32>)
    -> (tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>) {
  %shift = "tosa.const"() {values = dense<0> : tensor<1xi8>} : () -> tensor<1xi8>
  %zpf = "tosa.const"() {values = dense<0.0> : tensor<1xf32>} : () -> tensor<1xf32>
  %add = tosa.add %a, %row : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x4xf32>
  %sub = tosa.sub %a, %b : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %mul = tosa.mul %a, %b, %shift : (tensor<3x4xf32>, tensor<3x4xf32>, tensor<1xi8>) -> tensor<3x4xf32>
  %max = tosa.maximum %a, %b : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %min = tosa.minimum %a, %b : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %neg = tosa.negate %a, %zpf, %zpf : (tensor<3x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<3x4xf32>
  return %add, %sub, %mul, %max, %min, %neg
      : tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>
}

func.func @arith_i32(%a: tensor<8xi32>, %b: tensor<8xi32>, %s: tensor<8xi32>)
    -> (tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>,
        tensor<8xi32>, tensor<8xi32>, tensor<8xi32>) {
  %noshift = "tosa.const"() {values = dense<0> : tensor<1xi8>} : () -> tensor<1xi8>
  %shift = "tosa.const"() {values = dense<3> : tensor<1xi8>} : () -> tensor<1xi8>
  %add = tosa.add %a, %b : (tensor<8xi32>, tensor<8xi32>) -> tensor<8xi32>
  %sub = tosa.sub %a, %b : (tensor<8xi32>, tensor<8xi32>) -> tensor<8xi32>
  %mul = tosa.mul %a, %b, %noshift : (tensor<8xi32>, tensor<8xi32>, tensor<1xi8>) -> tensor<8xi32>
  %mulshift = tosa.mul %a, %b, %shift : (tensor<8xi32>, tensor<8xi32>, tensor<1xi8>) -> tensor<8xi32>
  %abs = tosa.abs %a : (tensor<8xi32>) -> tensor<8xi32>
  %xor = tosa.bitwise_xor %a, %b : (tensor<8xi32>, tensor<8xi32>) -> tensor<8xi32>
  %ashr = "tosa.arithmetic_right_shift"(%a, %s) <{round = true}> : (tensor<8xi32>, tensor<8xi32>) -> tensor<8xi32>
  %lshr = tosa.logical_right_shift %a, %s : (tensor<8xi32>, tensor<8xi32>) -> tensor<8xi32>
  %clz = tosa.clz %a : (tensor<8xi32>) -> tensor<8xi32>
  return %add, %sub, %mul, %mulshift, %abs, %xor, %ashr, %lshr, %clz
      : tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>,
        tensor<8xi32>, tensor<8xi32>, tensor<8xi32>
}

func.func @unary_f32(%x: tensor<12xf32>, %p: tensor<12xf32>)
    -> (tensor<12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<12xf32>,
        tensor<12xf32>, tensor<12xf32>, tensor<12xf32>) {
  %exp = tosa.exp %x : (tensor<12xf32>) -> tensor<12xf32>
  %log = tosa.log %p : (tensor<12xf32>) -> tensor<12xf32>
  %tanh = tosa.tanh %x : (tensor<12xf32>) -> tensor<12xf32>
  %sig = tosa.sigmoid %x : (tensor<12xf32>) -> tensor<12xf32>
  %rcp = tosa.reciprocal %x : (tensor<12xf32>) -> tensor<12xf32>
  %rsqrt = tosa.rsqrt %p : (tensor<12xf32>) -> tensor<12xf32>
  %floor = tosa.floor %x : (tensor<12xf32>) -> tensor<12xf32>
  %ceil = tosa.ceil %x : (tensor<12xf32>) -> tensor<12xf32>
  %abs = tosa.abs %x : (tensor<12xf32>) -> tensor<12xf32>
  return %exp, %log, %tanh, %sig, %rcp, %rsqrt, %floor, %ceil, %abs
      : tensor<12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<12xf32>,
        tensor<12xf32>, tensor<12xf32>, tensor<12xf32>
}

func.func @matmul(%a: tensor<2x4x8xf32>, %b: tensor<2x8x5xf32>) -> tensor<2x4x5xf32> {
  %zp = "tosa.const"() {values = dense<0.0> : tensor<1xf32>} : () -> tensor<1xf32>
  %0 = tosa.matmul %a, %b, %zp, %zp : (tensor<2x4x8xf32>, tensor<2x8x5xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x4x5xf32>
  return %0 : tensor<2x4x5xf32>
}

func.func @matmul_i8(%a: tensor<1x3x16xi8>, %b: tensor<1x16x4xi8>) -> tensor<1x3x4xi32> {
  %azp = "tosa.const"() {values = dense<3> : tensor<1xi8>} : () -> tensor<1xi8>
  %bzp = "tosa.const"() {values = dense<-2> : tensor<1xi8>} : () -> tensor<1xi8>
  %0 = tosa.matmul %a, %b, %azp, %bzp : (tensor<1x3x16xi8>, tensor<1x16x4xi8>, tensor<1xi8>, tensor<1xi8>) -> tensor<1x3x4xi32>
  return %0 : tensor<1x3x4xi32>
}

func.func @conv2d(%x: tensor<1x6x6x3xf32>, %w: tensor<4x3x3x3xf32>, %bias: tensor<4xf32>) -> tensor<1x3x3x4xf32> {
  %zp = "tosa.const"() {values = dense<0.0> : tensor<1xf32>} : () -> tensor<1xf32>
  %0 = "tosa.conv2d"(%x, %w, %bias, %zp, %zp) <{acc_type = f32, dilation = array<i64: 1, 1>,
                                            pad = array<i64: 1, 0, 1, 0>, stride = array<i64: 2, 2>}>
      : (tensor<1x6x6x3xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x3x4xf32>
  return %0 : tensor<1x3x3x4xf32>
}

func.func @depthwise_conv2d(%x: tensor<1x5x5x2xf32>, %w: tensor<3x3x2x2xf32>, %bias: tensor<4xf32>) -> tensor<1x3x3x4xf32> {
  %zp = "tosa.const"() {values = dense<0.0> : tensor<1xf32>} : () -> tensor<1xf32>
  %0 = "tosa.depthwise_conv2d"(%x, %w, %bias, %zp, %zp) <{acc_type = f32, dilation = array<i64: 1, 1>,
                                                      pad = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1>}>
      : (tensor<1x5x5x2xf32>, tensor<3x3x2x2xf32>, tensor<4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x3x4xf32>
  return %0 : tensor<1x3x3x4xf32>
}

func.func @pools(%x: tensor<1x4x6x2xf32>, %q: tensor<1x5x5x1xi8>)
    -> (tensor<1x2x3x2xf32>, tensor<1x3x5x2xf32>, tensor<1x3x3x1xi8>) {
  %zp = "tosa.const"() {values = dense<0.0> : tensor<1xf32>} : () -> tensor<1xf32>
  %max = "tosa.max_pool2d"(%x) <{kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, pad = array<i64: 0, 0, 0, 0>}>
      : (tensor<1x4x6x2xf32>) -> tensor<1x2x3x2xf32>
  %avg = "tosa.avg_pool2d"(%x, %zp, %zp) <{acc_type = f32, kernel = array<i64: 2, 2>, stride = array<i64: 1, 1>,
                                       pad = array<i64: 0, 0, 0, 0>}>
      : (tensor<1x4x6x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x5x2xf32>
  %qzp = "tosa.const"() {values = dense<0> : tensor<1xi8>} : () -> tensor<1xi8>
  %qavg = "tosa.avg_pool2d"(%q, %qzp, %qzp) <{acc_type = i32, kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>,
                                          pad = array<i64: 1, 1, 1, 1>}>
      : (tensor<1x5x5x1xi8>, tensor<1xi8>, tensor<1xi8>) -> tensor<1x3x3x1xi8>
  return %max, %avg, %qavg : tensor<1x2x3x2xf32>, tensor<1x3x5x2xf32>, tensor<1x3x3x1xi8>
}

func.func @reductions(%x: tensor<3x5xf32>, %i: tensor<3x5xi32>, %b: tensor<3x5xi8>)
    -> (tensor<3x1xf32>, tensor<1x5xf32>, tensor<3x1xi32>, tensor<3xi32>, tensor<5xi32>) {
  %sum = "tosa.reduce_sum"(%x) <{axis = 1 : i32}> : (tensor<3x5xf32>) -> tensor<3x1xf32>
  %max = "tosa.reduce_max"(%x) <{axis = 0 : i32}> : (tensor<3x5xf32>) -> tensor<1x5xf32>
  %imin = "tosa.reduce_min"(%i) <{axis = 1 : i32}> : (tensor<3x5xi32>) -> tensor<3x1xi32>
  %arg = "tosa.argmax"(%x) <{axis = 1 : i32}> : (tensor<3x5xf32>) -> tensor<3xi32>
  %iarg = "tosa.argmax"(%b) <{axis = 0 : i32}> : (tensor<3x5xi8>) -> tensor<5xi32>
  return %sum, %max, %imin, %arg, %iarg
      : tensor<3x1xf32>, tensor<1x5xf32>, tensor<3x1xi32>, tensor<3xi32>, tensor<5xi32>
}

func.func @clamp(%x: tensor<10xf32>, %i: tensor<10xi8>) -> (tensor<10xf32>, tensor<10xi8>) {
  %0 = "tosa.clamp"(%x) <{min_val = -0.5 : f32, max_val = 1.25 : f32}> : (tensor<10xf32>) -> tensor<10xf32>
  %1 = "tosa.clamp"(%i) <{min_val = -20 : i8, max_val = 100 : i8}> : (tensor<10xi8>) -> tensor<10xi8>
  return %0, %1 : tensor<10xf32>, tensor<10xi8>
}

func.func @rescale(%x: tensor<10xi32>, %q: tensor<10xi8>) -> (tensor<10xi8>, tensor<10xi32>, tensor<10xi16>) {
  %m = "tosa.const"() {values = dense<1518500250> : tensor<1xi32>} : () -> tensor<1xi32>
  %s = "tosa.const"() {values = dense<38> : tensor<1xi8>} : () -> tensor<1xi8>
  %zp32 = "tosa.const"() {values = dense<0> : tensor<1xi32>} : () -> tensor<1xi32>
  %zp8 = "tosa.const"() {values = dense<-3> : tensor<1xi8>} : () -> tensor<1xi8>
  %zp8b = "tosa.const"() {values = dense<5> : tensor<1xi8>} : () -> tensor<1xi8>
  %zp16 = "tosa.const"() {values = dense<0> : tensor<1xi16>} : () -> tensor<1xi16>
  %m16 = "tosa.const"() {values = dense<19000> : tensor<1xi16>} : () -> tensor<1xi16>
  %s16 = "tosa.const"() {values = dense<12> : tensor<1xi8>} : () -> tensor<1xi8>
  %0 = "tosa.rescale"(%x, %m, %s, %zp32, %zp8) <{scale32 = true, rounding_mode = #tosa.rounding_mode<DOUBLE_ROUND>, per_channel = false,
                                            input_unsigned = false, output_unsigned = false}>
      : (tensor<10xi32>, tensor<1xi32>, tensor<1xi8>, tensor<1xi32>, tensor<1xi8>) -> tensor<10xi8>
  %1 = "tosa.rescale"(%q, %m, %s, %zp8b, %zp32) <{scale32 = true, rounding_mode = #tosa.rounding_mode<SINGLE_ROUND>, per_channel = false,
                                             input_unsigned = false, output_unsigned = false}>
      : (tensor<10xi8>, tensor<1xi32>, tensor<1xi8>, tensor<1xi8>, tensor<1xi32>) -> tensor<10xi32>
  %2 = "tosa.rescale"(%x, %m16, %s16, %zp32, %zp16) <{scale32 = false, rounding_mode = #tosa.rounding_mode<SINGLE_ROUND>, per_channel = false,
                                                 input_unsigned = false, output_unsigned = false}>
      : (tensor<10xi32>, tensor<1xi16>, tensor<1xi8>, tensor<1xi32>, tensor<1xi16>) -> tensor<10xi16>
  return %0, %1, %2 : tensor<10xi8>, tensor<10xi32>, tensor<10xi16>
}

func.func @table(%x: tensor<16xi8>) -> tensor<16xi8> {
  %t = "tosa.const"() {values = dense<[
    -128, -127, -125, -122, -118, -113, -107, -100, -92, -83, -73, -62, -50, -37, -23, -8,
    8, 25, 43, 62, 82, 103, 125, 127, 126, 124, 121, 117, 112, 106, 99, 91,
    82, 72, 61, 49, 36, 22, 7, -9, -26, -44, -63, -83, -104, -126, -128, -127,
    -125, -122, -118, -113, -107, -100, -92, -83, -73, -62, -50, -37, -23, -8, 8, 25,
    43, 62, 82, 103, 125, 127, 126, 124, 121, 117, 112, 106, 99, 91, 82, 72,
    61, 49, 36, 22, 7, -9, -26, -44, -63, -83, -104, -126, -128, -127, -125, -122,
    -118, -113, -107, -100, -92, -83, -73, -62, -50, -37, -23, -8, 8, 25, 43, 62,
    82, 103, 125, 127, 126, 124, 121, 117, 112, 106, 99, 91, 82, 72, 61, 49,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    -16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1,
    32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    -48, -47, -46, -45, -44, -43, -42, -41, -40, -39, -38, -37, -36, -35, -34, -33,
    64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
    -80, -79, -78, -77, -76, -75, -74, -73, -72, -71, -70, -69, -68, -67, -66, -65,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    -112, -111, -110, -109, -108, -107, -106, -105, -104, -103, -102, -101, -100, -99, -98, 127
  ]> : tensor<256xi8>} : () -> tensor<256xi8>
  %0 = tosa.table %x, %t : (tensor<16xi8>, tensor<256xi8>) -> tensor<16xi8>
  return %0 : tensor<16xi8>
}

func.func @table_i16(%x: tensor<8xi16>, %ramp: tensor<513xi16>) -> tensor<8xi32> {
  %0 = tosa.table %x, %ramp : (tensor<8xi16>, tensor<513xi16>) -> tensor<8xi32>
  return %0 : tensor<8xi32>
}

func.func @shapes(%x: tensor<2x3x4xf32>, %a: tensor<2x3xi32>, %b: tensor<1x3xi32>)
    -> (tensor<4x2x3xf32>, tensor<6x4xf32>, tensor<3x3xi32>, tensor<1x2x2xf32>) {
  %tr = "tosa.transpose"(%x) <{perms = array<i32: 2, 0, 1>}> : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  %shape = "tosa.const_shape"() <{values = dense<[6, 4]> : tensor<2xindex>}> : () -> !tosa.shape<2>
  %rs = tosa.reshape %x, %shape : (tensor<2x3x4xf32>, !tosa.shape<2>) -> tensor<6x4xf32>
  %cc = "tosa.concat"(%a, %b) <{axis = 0 : i32}> : (tensor<2x3xi32>, tensor<1x3xi32>) -> tensor<3x3xi32>
  %start = "tosa.const_shape"() <{values = dense<[1, 1, 2]> : tensor<3xindex>}> : () -> !tosa.shape<3>
  %size = "tosa.const_shape"() <{values = dense<[1, 2, 2]> : tensor<3xindex>}> : () -> !tosa.shape<3>
  %sl = tosa.slice %x, %start, %size : (tensor<2x3x4xf32>, !tosa.shape<3>, !tosa.shape<3>) -> tensor<1x2x2xf32>
  return %tr, %rs, %cc, %sl : tensor<4x2x3xf32>, tensor<6x4xf32>, tensor<3x3xi32>, tensor<1x2x2xf32>
}

func.func @pad(%x: tensor<2x3xf32>, %i: tensor<3xi8>) -> (tensor<5x4xf32>, tensor<6xi8>) {
  %p = "tosa.const_shape"() <{values = dense<[1, 2, 0, 1]> : tensor<4xindex>}> : () -> !tosa.shape<4>
  %v = "tosa.const"() {values = dense<-1.5> : tensor<1xf32>} : () -> tensor<1xf32>
  %0 = tosa.pad %x, %p, %v : (tensor<2x3xf32>, !tosa.shape<4>, tensor<1xf32>) -> tensor<5x4xf32>
  %q = "tosa.const_shape"() <{values = dense<[2, 1]> : tensor<2xindex>}> : () -> !tosa.shape<2>
  %w = "tosa.const"() {values = dense<-128> : tensor<1xi8>} : () -> tensor<1xi8>
  %1 = tosa.pad %i, %q, %w : (tensor<3xi8>, !tosa.shape<2>, tensor<1xi8>) -> tensor<6xi8>
  return %0, %1 : tensor<5x4xf32>, tensor<6xi8>
}

func.func @gather(%values: tensor<2x5x3xf32>, %indices: tensor<2x4xi32>) -> tensor<2x4x3xf32> {
  %0 = tosa.gather %values, %indices : (tensor<2x5x3xf32>, tensor<2x4xi32>) -> tensor<2x4x3xf32>
  return %0 : tensor<2x4x3xf32>
}

func.func @compare_select(%a: tensor<8xf32>, %b: tensor<8xf32>, %i: tensor<8xi32>, %j: tensor<8xi32>)
    -> (tensor<8xf32>, tensor<8xi32>, tensor<8xf32>) {
  %gt = tosa.greater %a, %b : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xi1>
  %0 = tosa.select %gt, %a, %b : (tensor<8xi1>, tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %ge = tosa.greater_equal %i, %j : (tensor<8xi32>, tensor<8xi32>) -> tensor<8xi1>
  %eq = tosa.equal %i, %j : (tensor<8xi32>, tensor<8xi32>) -> tensor<8xi1>
  %greater = tosa.logical_xor %ge, %eq : (tensor<8xi1>, tensor<8xi1>) -> tensor<8xi1>
  %1 = tosa.select %greater, %i, %j : (tensor<8xi1>, tensor<8xi32>, tensor<8xi32>) -> tensor<8xi32>
  %2 = tosa.select %eq, %a, %b : (tensor<8xi1>, tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return %0, %1, %2 : tensor<8xf32>, tensor<8xi32>, tensor<8xf32>
}

func.func @cast(%f: tensor<10xf32>, %i: tensor<10xi32>, %b: tensor<10xi8>)
    -> (tensor<10xi32>, tensor<10xi8>, tensor<10xf32>, tensor<10xi16>, tensor<10xf32>, tensor<10xi8>) {
  %0 = tosa.cast %f : (tensor<10xf32>) -> tensor<10xi32>
  %1 = tosa.cast %f : (tensor<10xf32>) -> tensor<10xi8>
  %2 = tosa.cast %i : (tensor<10xi32>) -> tensor<10xf32>
  %3 = tosa.cast %b : (tensor<10xi8>) -> tensor<10xi16>
  %4 = tosa.cast %b : (tensor<10xi8>) -> tensor<10xf32>
  %5 = tosa.cast %i : (tensor<10xi32>) -> tensor<10xi8>
  return %0, %1, %2, %3, %4, %5
      : tensor<10xi32>, tensor<10xi8>, tensor<10xf32>, tensor<10xi16>, tensor<10xf32>, tensor<10xi8>
}

func.func @cond_if(%c: tensor<i1>, %x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = tosa.cond_if %c (%a = %x) : tensor<i1> (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %d = tosa.add %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    tosa.yield %d : tensor<4xf32>
  } else {
  ^bb0(%a: tensor<4xf32>):
    %zp = "tosa.const"() {values = dense<0.0> : tensor<1xf32>} : () -> tensor<1xf32>
    %n = tosa.negate %a, %zp, %zp : (tensor<4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<4xf32>
    tosa.yield %n : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}
