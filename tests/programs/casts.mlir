// Host-side casts: float<->int conversions, bitcasts, integer extension and
// truncation between i8/i16/i32/i64. Narrow types never cross the ABI
// boundary: they are produced and consumed inside each function.
module @casts {
  func.func @fptosi_i32(%a: f32) -> i32 {
    %0 = arith.fptosi %a : f32 to i32
    return %0 : i32
  }
  func.func @fptoui_i32(%a: f32) -> i32 {
    %0 = arith.fptoui %a : f32 to i32
    return %0 : i32
  }
  func.func @fptosi_i64(%a: f32) -> i64 {
    %0 = arith.fptosi %a : f32 to i64
    return %0 : i64
  }
  func.func @fptoui_i64(%a: f32) -> i64 {
    %0 = arith.fptoui %a : f32 to i64
    return %0 : i64
  }
  func.func @sitofp_i32(%a: i32) -> f32 {
    %0 = arith.sitofp %a : i32 to f32
    return %0 : f32
  }
  func.func @uitofp_i32(%a: i32) -> f32 {
    %0 = arith.uitofp %a : i32 to f32
    return %0 : f32
  }
  func.func @sitofp_i64(%a: i64) -> f32 {
    %0 = arith.sitofp %a : i64 to f32
    return %0 : f32
  }
  func.func @uitofp_i64(%a: i64) -> f32 {
    %0 = arith.uitofp %a : i64 to f32
    return %0 : f32
  }
  func.func @bitcast_f32_i32(%a: f32) -> i32 {
    %0 = arith.bitcast %a : f32 to i32
    return %0 : i32
  }
  func.func @bitcast_i32_f32(%a: i32) -> f32 {
    %0 = arith.bitcast %a : i32 to f32
    return %0 : f32
  }
  // Truncate to i8 then sign- and zero-extend back.
  func.func @i8_roundtrip(%a: i32) -> (i32, i32) {
    %t = arith.trunci %a : i32 to i8
    %s = arith.extsi %t : i8 to i32
    %u = arith.extui %t : i8 to i32
    return %s, %u : i32, i32
  }
  func.func @i16_roundtrip(%a: i32) -> (i32, i32) {
    %t = arith.trunci %a : i32 to i16
    %s = arith.extsi %t : i16 to i32
    %u = arith.extui %t : i16 to i32
    return %s, %u : i32, i32
  }
  func.func @i8_to_i64(%a: i32) -> (i64, i64) {
    %t = arith.trunci %a : i32 to i8
    %s = arith.extsi %t : i8 to i64
    %u = arith.extui %t : i8 to i64
    return %s, %u : i64, i64
  }
  func.func @i16_to_i64(%a: i64) -> (i64, i64) {
    %t = arith.trunci %a : i64 to i16
    %s = arith.extsi %t : i16 to i64
    %u = arith.extui %t : i16 to i64
    return %s, %u : i64, i64
  }
  func.func @i32_to_i64(%a: i32) -> (i64, i64) {
    %s = arith.extsi %a : i32 to i64
    %u = arith.extui %a : i32 to i64
    return %s, %u : i64, i64
  }
  func.func @i64_to_i32(%a: i64) -> i32 {
    %t = arith.trunci %a : i64 to i32
    return %t : i32
  }
  // i8 arithmetic wraps at 8 bits: (a + b) computed in i8, then sign-extended.
  func.func @add_i8(%a: i32, %b: i32) -> i32 {
    %x = arith.trunci %a : i32 to i8
    %y = arith.trunci %b : i32 to i8
    %z = arith.addi %x, %y : i8
    %r = arith.extsi %z : i8 to i32
    return %r : i32
  }
  func.func @mul_i16(%a: i32, %b: i32) -> i32 {
    %x = arith.trunci %a : i32 to i16
    %y = arith.trunci %b : i32 to i16
    %z = arith.muli %x, %y : i16
    %r = arith.extui %z : i16 to i32
    return %r : i32
  }
  func.func @index_cast(%a: i64) -> i32 {
    %i = arith.index_cast %a : i64 to index
    %r = arith.index_cast %i : index to i32
    return %r : i32
  }
}
