// Host-side f32 arithmetic and math-dialect ops lowered to vm.*.f32 ops.
module @arith_f32 {
  func.func @basic(%a: f32, %b: f32) -> (f32, f32, f32, f32) {
    %0 = arith.addf %a, %b : f32
    %1 = arith.subf %a, %b : f32
    %2 = arith.mulf %a, %b : f32
    %3 = arith.divf %a, %b : f32
    return %0, %1, %2, %3 : f32, f32, f32, f32
  }
  func.func @negf(%a: f32) -> f32 {
    %0 = arith.negf %a : f32
    return %0 : f32
  }
  func.func @remf(%a: f32, %b: f32) -> f32 {
    %0 = arith.remf %a, %b : f32
    return %0 : f32
  }
  func.func @fma(%a: f32, %b: f32, %c: f32) -> f32 {
    %0 = math.fma %a, %b, %c : f32
    return %0 : f32
  }
  func.func @sqrt(%a: f32) -> f32 {
    %0 = math.sqrt %a : f32
    return %0 : f32
  }
  func.func @rsqrt(%a: f32) -> f32 {
    %0 = math.rsqrt %a : f32
    return %0 : f32
  }
  func.func @exp(%a: f32) -> f32 {
    %0 = math.exp %a : f32
    return %0 : f32
  }
  func.func @log(%a: f32) -> f32 {
    %0 = math.log %a : f32
    return %0 : f32
  }
  func.func @rounding(%a: f32) -> (f32, f32, f32, f32, f32) {
    %0 = math.floor %a : f32
    %1 = math.ceil %a : f32
    %2 = math.round %a : f32
    %3 = math.roundeven %a : f32
    %4 = math.absf %a : f32
    return %0, %1, %2, %3, %4 : f32, f32, f32, f32, f32
  }
  func.func @minmax(%a: f32, %b: f32) -> (f32, f32) {
    %0 = arith.minimumf %a, %b : f32
    %1 = arith.maximumf %a, %b : f32
    return %0, %1 : f32, f32
  }
  // Horner evaluation of 0.5*x^3 - 1.25*x^2 + 3*x - 0.1 in f32.
  func.func @horner(%x: f32) -> f32 {
    %c3 = arith.constant 0.5 : f32
    %c2 = arith.constant -1.25 : f32
    %c1 = arith.constant 3.0 : f32
    %c0 = arith.constant -0.1 : f32
    %t0 = arith.mulf %c3, %x : f32
    %t1 = arith.addf %t0, %c2 : f32
    %t2 = arith.mulf %t1, %x : f32
    %t3 = arith.addf %t2, %c1 : f32
    %t4 = arith.mulf %t3, %x : f32
    %t5 = arith.addf %t4, %c0 : f32
    return %t5 : f32
  }
}
