// Host-side control flow: scf.if, scf.while, scf.for, func.call chains and
// functions with several results.
//
// NOTE: no recursion here. iree-compile 3.13 hangs forever (in
// iree-util-fold-globals, GlobalTable's reachability walk re-queues nodes of a
// call-graph cycle) on any host program with a recursive func.call, so
// recursion is covered by the VM-dialect programs (vm_calls.mlir) instead.
module @control {
  // Iterative Fibonacci with i32 wrap-around (fib(47) overflows i32).
  func.func @fib(%n: i32) -> i32 {
    %c0 = arith.constant 0 : i32
    %c1 = arith.constant 1 : i32
    %r:3 = scf.while (%i = %c0, %a = %c0, %b = %c1) : (i32, i32, i32) -> (i32, i32, i32) {
      %cond = arith.cmpi slt, %i, %n : i32
      scf.condition(%cond) %i, %a, %b : i32, i32, i32
    } do {
    ^bb0(%i: i32, %a: i32, %b: i32):
      %i1 = arith.addi %i, %c1 : i32
      %s = arith.addi %a, %b : i32
      scf.yield %i1, %b, %s : i32, i32, i32
    }
    return %r#1 : i32
  }
  // fib in i64.
  func.func @fib64(%n: i32) -> i64 {
    %c0 = arith.constant 0 : i32
    %c1 = arith.constant 1 : i32
    %z = arith.constant 0 : i64
    %o = arith.constant 1 : i64
    %r:3 = scf.while (%i = %c0, %a = %z, %b = %o) : (i32, i64, i64) -> (i32, i64, i64) {
      %cond = arith.cmpi slt, %i, %n : i32
      scf.condition(%cond) %i, %a, %b : i32, i64, i64
    } do {
    ^bb0(%i: i32, %a: i64, %b: i64):
      %i1 = arith.addi %i, %c1 : i32
      %s = arith.addi %a, %b : i64
      scf.yield %i1, %b, %s : i32, i64, i64
    }
    return %r#1 : i64
  }
  // Euclid's gcd on signed values (uses remsi).
  func.func @gcd(%a: i32, %b: i32) -> i32 {
    %c0 = arith.constant 0 : i32
    %r:2 = scf.while (%x = %a, %y = %b) : (i32, i32) -> (i32, i32) {
      %cond = arith.cmpi ne, %y, %c0 : i32
      scf.condition(%cond) %x, %y : i32, i32
    } do {
    ^bb0(%x: i32, %y: i32):
      %m = arith.remsi %x, %y : i32
      scf.yield %y, %m : i32, i32
    }
    %abs = math.absi %r#0 : i32
    return %abs : i32
  }
  // Number of Collatz steps to reach 1, and the peak value reached (i64).
  func.func @collatz(%n: i64) -> (i32, i64) {
    %c0 = arith.constant 0 : i32
    %c1i = arith.constant 1 : i32
    %one = arith.constant 1 : i64
    %two = arith.constant 2 : i64
    %three = arith.constant 3 : i64
    %r:3 = scf.while (%x = %n, %steps = %c0, %peak = %n) : (i64, i32, i64) -> (i64, i32, i64) {
      %cond = arith.cmpi sgt, %x, %one : i64
      scf.condition(%cond) %x, %steps, %peak : i64, i32, i64
    } do {
    ^bb0(%x: i64, %steps: i32, %peak: i64):
      %bit = arith.andi %x, %one : i64
      %even = arith.cmpi ne, %bit, %one : i64
      %next = scf.if %even -> i64 {
        %h = arith.divsi %x, %two : i64
        scf.yield %h : i64
      } else {
        %t = arith.muli %x, %three : i64
        %t1 = arith.addi %t, %one : i64
        scf.yield %t1 : i64
      }
      %s1 = arith.addi %steps, %c1i : i32
      %p1 = arith.maxsi %peak, %next : i64
      scf.yield %next, %s1, %p1 : i64, i32, i64
    }
    return %r#1, %r#2 : i32, i64
  }
  // sum_{i=0}^{n-1} i*i as i64 and as wrapping i32 (scf.for on index).
  func.func @sum_squares(%n: i32) -> (i64, i32) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %z64 = arith.constant 0 : i64
    %z32 = arith.constant 0 : i32
    %ub = arith.index_cast %n : i32 to index
    %r:2 = scf.for %i = %c0 to %ub step %c1 iter_args(%acc = %z64, %acc32 = %z32) -> (i64, i32) {
      %ii = arith.index_cast %i : index to i64
      %sq = arith.muli %ii, %ii : i64
      %a = arith.addi %acc, %sq : i64
      %i32 = arith.index_cast %i : index to i32
      %sq32 = arith.muli %i32, %i32 : i32
      %a32 = arith.addi %acc32, %sq32 : i32
      scf.yield %a, %a32 : i64, i32
    }
    return %r#0, %r#1 : i64, i32
  }
  // Float accumulation loop: sum_{i=1}^{n} 1/i in f32 (order-sensitive rounding).
  func.func @harmonic(%n: i32) -> f32 {
    %c1 = arith.constant 1 : i32
    %one = arith.constant 1.0 : f32
    %zero = arith.constant 0.0 : f32
    %r:2 = scf.while (%i = %c1, %acc = %zero) : (i32, f32) -> (i32, f32) {
      %cond = arith.cmpi sle, %i, %n : i32
      scf.condition(%cond) %i, %acc : i32, f32
    } do {
    ^bb0(%i: i32, %acc: f32):
      %fi = arith.sitofp %i : i32 to f32
      %q = arith.divf %one, %fi : f32
      %a = arith.addf %acc, %q : f32
      %i1 = arith.addi %i, %c1 : i32
      scf.yield %i1, %a : i32, f32
    }
    return %r#1 : f32
  }
  // Sign classification through nested scf.if: -1, 0 or 1, plus |x|.
  func.func @sign_abs(%x: i32) -> (i32, i32) {
    %c0 = arith.constant 0 : i32
    %c1 = arith.constant 1 : i32
    %m1 = arith.constant -1 : i32
    %neg = arith.cmpi slt, %x, %c0 : i32
    %r:2 = scf.if %neg -> (i32, i32) {
      %n = arith.subi %c0, %x : i32
      scf.yield %m1, %n : i32, i32
    } else {
      %z = arith.cmpi eq, %x, %c0 : i32
      %s = scf.if %z -> i32 {
        scf.yield %c0 : i32
      } else {
        scf.yield %c1 : i32
      }
      scf.yield %s, %x : i32, i32
    }
    return %r#0, %r#1 : i32, i32
  }
  // Integer division returning quotient and remainder, signed and unsigned.
  func.func @divmod(%a: i32, %b: i32) -> (i32, i32, i32, i32) {
    %q = arith.divsi %a, %b : i32
    %r = arith.remsi %a, %b : i32
    %uq = arith.divui %a, %b : i32
    %ur = arith.remui %a, %b : i32
    return %q, %r, %uq, %ur : i32, i32, i32, i32
  }
  // Calls another function twice.
  func.func private @square_plus(%x: i64, %k: i64) -> i64 {
    %s = arith.muli %x, %x : i64
    %r = arith.addi %s, %k : i64
    return %r : i64
  }
  func.func @call_twice(%x: i64) -> i64 {
    %c1 = arith.constant 1 : i64
    %a = func.call @square_plus(%x, %c1) : (i64, i64) -> i64
    %b = func.call @square_plus(%a, %x) : (i64, i64) -> i64
    return %b : i64
  }
  // A three-deep call chain (non-recursive; see the note at the top).
  func.func private @inc3(%x: i32) -> i32 {
    %c3 = arith.constant 3 : i32
    %r = arith.addi %x, %c3 : i32
    return %r : i32
  }
  func.func private @twice_inc3(%x: i32) -> (i32, i32) {
    %a = func.call @inc3(%x) : (i32) -> i32
    %b = func.call @inc3(%a) : (i32) -> i32
    return %a, %b : i32, i32
  }
  func.func @chain(%x: i32) -> i32 {
    %a, %b = func.call @twice_inc3(%x) : (i32) -> (i32, i32)
    %p = arith.muli %a, %b : i32
    return %p : i32
  }
  // Several results of mixed types from one call.
  func.func @stats(%a: i32, %b: i32, %c: i32) -> (i32, i32, i64, f32) {
    %mn0 = arith.minsi %a, %b : i32
    %mn = arith.minsi %mn0, %c : i32
    %mx0 = arith.maxsi %a, %b : i32
    %mx = arith.maxsi %mx0, %c : i32
    %a64 = arith.extsi %a : i32 to i64
    %b64 = arith.extsi %b : i32 to i64
    %c64 = arith.extsi %c : i32 to i64
    %s0 = arith.addi %a64, %b64 : i64
    %s = arith.addi %s0, %c64 : i64
    %sf = arith.sitofp %s : i64 to f32
    %three = arith.constant 3.0 : f32
    %mean = arith.divf %sf, %three : f32
    return %mn, %mx, %s, %mean : i32, i32, i64, f32
  }
}
