// Host-side i64 integer arithmetic (same shape as arith_i32.mlir, 64-bit).
// All functions take i64 scalars so nothing is constant-folded.
module @arith_i64 {
  func.func @add(%a: i64, %b: i64) -> i64 {
    %0 = arith.addi %a, %b : i64
    return %0 : i64
  }
  func.func @sub(%a: i64, %b: i64) -> i64 {
    %0 = arith.subi %a, %b : i64
    return %0 : i64
  }
  func.func @mul(%a: i64, %b: i64) -> i64 {
    %0 = arith.muli %a, %b : i64
    return %0 : i64
  }
  func.func @divsi(%a: i64, %b: i64) -> i64 {
    %0 = arith.divsi %a, %b : i64
    return %0 : i64
  }
  func.func @divui(%a: i64, %b: i64) -> i64 {
    %0 = arith.divui %a, %b : i64
    return %0 : i64
  }
  func.func @remsi(%a: i64, %b: i64) -> i64 {
    %0 = arith.remsi %a, %b : i64
    return %0 : i64
  }
  func.func @remui(%a: i64, %b: i64) -> i64 {
    %0 = arith.remui %a, %b : i64
    return %0 : i64
  }
  func.func @floordivsi(%a: i64, %b: i64) -> i64 {
    %0 = arith.floordivsi %a, %b : i64
    return %0 : i64
  }
  func.func @ceildivsi(%a: i64, %b: i64) -> i64 {
    %0 = arith.ceildivsi %a, %b : i64
    return %0 : i64
  }
  func.func @ceildivui(%a: i64, %b: i64) -> i64 {
    %0 = arith.ceildivui %a, %b : i64
    return %0 : i64
  }
  func.func @minmax(%a: i64, %b: i64) -> (i64, i64, i64, i64) {
    %0 = arith.minsi %a, %b : i64
    %1 = arith.maxsi %a, %b : i64
    %2 = arith.minui %a, %b : i64
    %3 = arith.maxui %a, %b : i64
    return %0, %1, %2, %3 : i64, i64, i64, i64
  }
  func.func @bitwise(%a: i64, %b: i64) -> (i64, i64, i64) {
    %0 = arith.andi %a, %b : i64
    %1 = arith.ori %a, %b : i64
    %2 = arith.xori %a, %b : i64
    return %0, %1, %2 : i64, i64, i64
  }
  func.func @not_neg(%a: i64) -> (i64, i64) {
    %c0 = arith.constant 0 : i64
    %m1 = arith.constant -1 : i64
    %0 = arith.xori %a, %m1 : i64
    %1 = arith.subi %c0, %a : i64
    return %0, %1 : i64, i64
  }
  func.func @shifts(%a: i64, %s: i64) -> (i64, i64, i64) {
    %0 = arith.shli %a, %s : i64
    %1 = arith.shrsi %a, %s : i64
    %2 = arith.shrui %a, %s : i64
    return %0, %1, %2 : i64, i64, i64
  }
  func.func @ctlz(%a: i64) -> i64 {
    %0 = math.ctlz %a : i64
    return %0 : i64
  }
  func.func @absi(%a: i64) -> i64 {
    %0 = math.absi %a : i64
    return %0 : i64
  }
  // Polynomial with wrap-around: a*a*a - 7*a + 13.
  func.func @poly(%a: i64) -> i64 {
    %c7 = arith.constant 7 : i64
    %c13 = arith.constant 13 : i64
    %a2 = arith.muli %a, %a : i64
    %a3 = arith.muli %a2, %a : i64
    %t = arith.muli %a, %c7 : i64
    %d = arith.subi %a3, %t : i64
    %r = arith.addi %d, %c13 : i64
    return %r : i64
  }
}
