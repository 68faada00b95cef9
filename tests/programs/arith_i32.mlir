// Host-side i32 integer arithmetic. All functions take i32 scalars so nothing
// is constant-folded by the compiler; the VM does the work at runtime.
module @arith_i32 {
  func.func @add(%a: i32, %b: i32) -> i32 {
    %0 = arith.addi %a, %b : i32
    return %0 : i32
  }
  func.func @sub(%a: i32, %b: i32) -> i32 {
    %0 = arith.subi %a, %b : i32
    return %0 : i32
  }
  func.func @mul(%a: i32, %b: i32) -> i32 {
    %0 = arith.muli %a, %b : i32
    return %0 : i32
  }
  func.func @divsi(%a: i32, %b: i32) -> i32 {
    %0 = arith.divsi %a, %b : i32
    return %0 : i32
  }
  func.func @divui(%a: i32, %b: i32) -> i32 {
    %0 = arith.divui %a, %b : i32
    return %0 : i32
  }
  func.func @remsi(%a: i32, %b: i32) -> i32 {
    %0 = arith.remsi %a, %b : i32
    return %0 : i32
  }
  func.func @remui(%a: i32, %b: i32) -> i32 {
    %0 = arith.remui %a, %b : i32
    return %0 : i32
  }
  func.func @floordivsi(%a: i32, %b: i32) -> i32 {
    %0 = arith.floordivsi %a, %b : i32
    return %0 : i32
  }
  func.func @ceildivsi(%a: i32, %b: i32) -> i32 {
    %0 = arith.ceildivsi %a, %b : i32
    return %0 : i32
  }
  func.func @ceildivui(%a: i32, %b: i32) -> i32 {
    %0 = arith.ceildivui %a, %b : i32
    return %0 : i32
  }
  func.func @minmax(%a: i32, %b: i32) -> (i32, i32, i32, i32) {
    %0 = arith.minsi %a, %b : i32
    %1 = arith.maxsi %a, %b : i32
    %2 = arith.minui %a, %b : i32
    %3 = arith.maxui %a, %b : i32
    return %0, %1, %2, %3 : i32, i32, i32, i32
  }
  func.func @bitwise(%a: i32, %b: i32) -> (i32, i32, i32) {
    %0 = arith.andi %a, %b : i32
    %1 = arith.ori %a, %b : i32
    %2 = arith.xori %a, %b : i32
    return %0, %1, %2 : i32, i32, i32
  }
  func.func @not_neg(%a: i32) -> (i32, i32) {
    %c0 = arith.constant 0 : i32
    %m1 = arith.constant -1 : i32
    %0 = arith.xori %a, %m1 : i32
    %1 = arith.subi %c0, %a : i32
    return %0, %1 : i32, i32
  }
  func.func @shifts(%a: i32, %s: i32) -> (i32, i32, i32) {
    %0 = arith.shli %a, %s : i32
    %1 = arith.shrsi %a, %s : i32
    %2 = arith.shrui %a, %s : i32
    return %0, %1, %2 : i32, i32, i32
  }
  func.func @ctlz(%a: i32) -> i32 {
    %0 = math.ctlz %a : i32
    return %0 : i32
  }
  func.func @absi(%a: i32) -> i32 {
    %0 = math.absi %a : i32
    return %0 : i32
  }
  // Polynomial with wrap-around: a*a*a - 7*a + 13.
  func.func @poly(%a: i32) -> i32 {
    %c7 = arith.constant 7 : i32
    %c13 = arith.constant 13 : i32
    %a2 = arith.muli %a, %a : i32
    %a3 = arith.muli %a2, %a : i32
    %t = arith.muli %a, %c7 : i32
    %d = arith.subi %a3, %t : i32
    %r = arith.addi %d, %c13 : i32
    return %r : i32
  }
}
