// Host-side comparisons: every arith.cmpi predicate (i32 and i64), every
// arith.cmpf predicate (f32, ordered and unordered) and arith.select.
// Each cmp function packs its i1 results into a bit mask (bit k = k-th
// predicate in the order listed) so one call checks all predicates.
module @compare {
  func.func @cmp_i32(%a: i32, %b: i32) -> i32 {
    %zero = arith.constant 0 : i32
    %c0 = arith.cmpi eq, %a, %b : i32
    %e0 = arith.extui %c0 : i1 to i32
    %k0 = arith.constant 0 : i32
    %s0 = arith.shli %e0, %k0 : i32
    %m0 = arith.ori %zero, %s0 : i32
    %c1 = arith.cmpi ne, %a, %b : i32
    %e1 = arith.extui %c1 : i1 to i32
    %k1 = arith.constant 1 : i32
    %s1 = arith.shli %e1, %k1 : i32
    %m1 = arith.ori %m0, %s1 : i32
    %c2 = arith.cmpi slt, %a, %b : i32
    %e2 = arith.extui %c2 : i1 to i32
    %k2 = arith.constant 2 : i32
    %s2 = arith.shli %e2, %k2 : i32
    %m2 = arith.ori %m1, %s2 : i32
    %c3 = arith.cmpi sle, %a, %b : i32
    %e3 = arith.extui %c3 : i1 to i32
    %k3 = arith.constant 3 : i32
    %s3 = arith.shli %e3, %k3 : i32
    %m3 = arith.ori %m2, %s3 : i32
    %c4 = arith.cmpi sgt, %a, %b : i32
    %e4 = arith.extui %c4 : i1 to i32
    %k4 = arith.constant 4 : i32
    %s4 = arith.shli %e4, %k4 : i32
    %m4 = arith.ori %m3, %s4 : i32
    %c5 = arith.cmpi sge, %a, %b : i32
    %e5 = arith.extui %c5 : i1 to i32
    %k5 = arith.constant 5 : i32
    %s5 = arith.shli %e5, %k5 : i32
    %m5 = arith.ori %m4, %s5 : i32
    %c6 = arith.cmpi ult, %a, %b : i32
    %e6 = arith.extui %c6 : i1 to i32
    %k6 = arith.constant 6 : i32
    %s6 = arith.shli %e6, %k6 : i32
    %m6 = arith.ori %m5, %s6 : i32
    %c7 = arith.cmpi ule, %a, %b : i32
    %e7 = arith.extui %c7 : i1 to i32
    %k7 = arith.constant 7 : i32
    %s7 = arith.shli %e7, %k7 : i32
    %m7 = arith.ori %m6, %s7 : i32
    %c8 = arith.cmpi ugt, %a, %b : i32
    %e8 = arith.extui %c8 : i1 to i32
    %k8 = arith.constant 8 : i32
    %s8 = arith.shli %e8, %k8 : i32
    %m8 = arith.ori %m7, %s8 : i32
    %c9 = arith.cmpi uge, %a, %b : i32
    %e9 = arith.extui %c9 : i1 to i32
    %k9 = arith.constant 9 : i32
    %s9 = arith.shli %e9, %k9 : i32
    %m9 = arith.ori %m8, %s9 : i32
    return %m9 : i32
  }
  func.func @cmp_i64(%a: i64, %b: i64) -> i32 {
    %zero = arith.constant 0 : i32
    %c0 = arith.cmpi eq, %a, %b : i64
    %e0 = arith.extui %c0 : i1 to i32
    %k0 = arith.constant 0 : i32
    %s0 = arith.shli %e0, %k0 : i32
    %m0 = arith.ori %zero, %s0 : i32
    %c1 = arith.cmpi ne, %a, %b : i64
    %e1 = arith.extui %c1 : i1 to i32
    %k1 = arith.constant 1 : i32
    %s1 = arith.shli %e1, %k1 : i32
    %m1 = arith.ori %m0, %s1 : i32
    %c2 = arith.cmpi slt, %a, %b : i64
    %e2 = arith.extui %c2 : i1 to i32
    %k2 = arith.constant 2 : i32
    %s2 = arith.shli %e2, %k2 : i32
    %m2 = arith.ori %m1, %s2 : i32
    %c3 = arith.cmpi sle, %a, %b : i64
    %e3 = arith.extui %c3 : i1 to i32
    %k3 = arith.constant 3 : i32
    %s3 = arith.shli %e3, %k3 : i32
    %m3 = arith.ori %m2, %s3 : i32
    %c4 = arith.cmpi sgt, %a, %b : i64
    %e4 = arith.extui %c4 : i1 to i32
    %k4 = arith.constant 4 : i32
    %s4 = arith.shli %e4, %k4 : i32
    %m4 = arith.ori %m3, %s4 : i32
    %c5 = arith.cmpi sge, %a, %b : i64
    %e5 = arith.extui %c5 : i1 to i32
    %k5 = arith.constant 5 : i32
    %s5 = arith.shli %e5, %k5 : i32
    %m5 = arith.ori %m4, %s5 : i32
    %c6 = arith.cmpi ult, %a, %b : i64
    %e6 = arith.extui %c6 : i1 to i32
    %k6 = arith.constant 6 : i32
    %s6 = arith.shli %e6, %k6 : i32
    %m6 = arith.ori %m5, %s6 : i32
    %c7 = arith.cmpi ule, %a, %b : i64
    %e7 = arith.extui %c7 : i1 to i32
    %k7 = arith.constant 7 : i32
    %s7 = arith.shli %e7, %k7 : i32
    %m7 = arith.ori %m6, %s7 : i32
    %c8 = arith.cmpi ugt, %a, %b : i64
    %e8 = arith.extui %c8 : i1 to i32
    %k8 = arith.constant 8 : i32
    %s8 = arith.shli %e8, %k8 : i32
    %m8 = arith.ori %m7, %s8 : i32
    %c9 = arith.cmpi uge, %a, %b : i64
    %e9 = arith.extui %c9 : i1 to i32
    %k9 = arith.constant 9 : i32
    %s9 = arith.shli %e9, %k9 : i32
    %m9 = arith.ori %m8, %s9 : i32
    return %m9 : i32
  }
  func.func @cmp_f32(%a: f32, %b: f32) -> i32 {
    %zero = arith.constant 0 : i32
    %c0 = arith.cmpf false, %a, %b : f32
    %e0 = arith.extui %c0 : i1 to i32
    %k0 = arith.constant 0 : i32
    %s0 = arith.shli %e0, %k0 : i32
    %m0 = arith.ori %zero, %s0 : i32
    %c1 = arith.cmpf oeq, %a, %b : f32
    %e1 = arith.extui %c1 : i1 to i32
    %k1 = arith.constant 1 : i32
    %s1 = arith.shli %e1, %k1 : i32
    %m1 = arith.ori %m0, %s1 : i32
    %c2 = arith.cmpf ogt, %a, %b : f32
    %e2 = arith.extui %c2 : i1 to i32
    %k2 = arith.constant 2 : i32
    %s2 = arith.shli %e2, %k2 : i32
    %m2 = arith.ori %m1, %s2 : i32
    %c3 = arith.cmpf oge, %a, %b : f32
    %e3 = arith.extui %c3 : i1 to i32
    %k3 = arith.constant 3 : i32
    %s3 = arith.shli %e3, %k3 : i32
    %m3 = arith.ori %m2, %s3 : i32
    %c4 = arith.cmpf olt, %a, %b : f32
    %e4 = arith.extui %c4 : i1 to i32
    %k4 = arith.constant 4 : i32
    %s4 = arith.shli %e4, %k4 : i32
    %m4 = arith.ori %m3, %s4 : i32
    %c5 = arith.cmpf ole, %a, %b : f32
    %e5 = arith.extui %c5 : i1 to i32
    %k5 = arith.constant 5 : i32
    %s5 = arith.shli %e5, %k5 : i32
    %m5 = arith.ori %m4, %s5 : i32
    %c6 = arith.cmpf one, %a, %b : f32
    %e6 = arith.extui %c6 : i1 to i32
    %k6 = arith.constant 6 : i32
    %s6 = arith.shli %e6, %k6 : i32
    %m6 = arith.ori %m5, %s6 : i32
    %c7 = arith.cmpf ord, %a, %b : f32
    %e7 = arith.extui %c7 : i1 to i32
    %k7 = arith.constant 7 : i32
    %s7 = arith.shli %e7, %k7 : i32
    %m7 = arith.ori %m6, %s7 : i32
    %c8 = arith.cmpf ueq, %a, %b : f32
    %e8 = arith.extui %c8 : i1 to i32
    %k8 = arith.constant 8 : i32
    %s8 = arith.shli %e8, %k8 : i32
    %m8 = arith.ori %m7, %s8 : i32
    %c9 = arith.cmpf ugt, %a, %b : f32
    %e9 = arith.extui %c9 : i1 to i32
    %k9 = arith.constant 9 : i32
    %s9 = arith.shli %e9, %k9 : i32
    %m9 = arith.ori %m8, %s9 : i32
    %c10 = arith.cmpf uge, %a, %b : f32
    %e10 = arith.extui %c10 : i1 to i32
    %k10 = arith.constant 10 : i32
    %s10 = arith.shli %e10, %k10 : i32
    %m10 = arith.ori %m9, %s10 : i32
    %c11 = arith.cmpf ult, %a, %b : f32
    %e11 = arith.extui %c11 : i1 to i32
    %k11 = arith.constant 11 : i32
    %s11 = arith.shli %e11, %k11 : i32
    %m11 = arith.ori %m10, %s11 : i32
    %c12 = arith.cmpf ule, %a, %b : f32
    %e12 = arith.extui %c12 : i1 to i32
    %k12 = arith.constant 12 : i32
    %s12 = arith.shli %e12, %k12 : i32
    %m12 = arith.ori %m11, %s12 : i32
    %c13 = arith.cmpf une, %a, %b : f32
    %e13 = arith.extui %c13 : i1 to i32
    %k13 = arith.constant 13 : i32
    %s13 = arith.shli %e13, %k13 : i32
    %m13 = arith.ori %m12, %s13 : i32
    %c14 = arith.cmpf uno, %a, %b : f32
    %e14 = arith.extui %c14 : i1 to i32
    %k14 = arith.constant 14 : i32
    %s14 = arith.shli %e14, %k14 : i32
    %m14 = arith.ori %m13, %s14 : i32
    %c15 = arith.cmpf true, %a, %b : f32
    %e15 = arith.extui %c15 : i1 to i32
    %k15 = arith.constant 15 : i32
    %s15 = arith.shli %e15, %k15 : i32
    %m15 = arith.ori %m14, %s15 : i32
    return %m15 : i32
  }
  func.func @select_i32(%c: i32, %a: i32, %b: i32) -> i32 {
    %zero = arith.constant 0 : i32
    %p = arith.cmpi ne, %c, %zero : i32
    %r = arith.select %p, %a, %b : i32
    return %r : i32
  }
  func.func @select_i64(%c: i32, %a: i64, %b: i64) -> i64 {
    %zero = arith.constant 0 : i32
    %p = arith.cmpi ne, %c, %zero : i32
    %r = arith.select %p, %a, %b : i64
    return %r : i64
  }
  func.func @select_f32(%c: i32, %a: f32, %b: f32) -> f32 {
    %zero = arith.constant 0 : i32
    %p = arith.cmpi ne, %c, %zero : i32
    %r = arith.select %p, %a, %b : f32
    return %r : f32
  }
  // clamp(x, lo, hi) with signed compares and selects.
  func.func @clamp(%x: i32, %lo: i32, %hi: i32) -> i32 {
    %p = arith.cmpi slt, %x, %lo : i32
    %y = arith.select %p, %lo, %x : i32
    %q = arith.cmpi sgt, %y, %hi : i32
    %z = arith.select %q, %hi, %y : i32
    return %z : i32
  }
  func.func @is_nan(%x: f32) -> i32 {
    %p = arith.cmpf uno, %x, %x : f32
    %r = arith.extui %p : i1 to i32
    return %r : i32
  }
}
