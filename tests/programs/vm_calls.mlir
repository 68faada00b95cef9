// VM-dialect program: internal calls, direct and mutual recursion, multi-way
// branching (vm.br_table) and value switches (vm.switch.i32/i64/f32).
//
// NOTE: every vm.func is `private` and made visible with vm.export. With a
// public vm.func in a call-graph cycle (recursion) iree-compile 3.13 hangs in
// iree-util-verify-initialization-order (GlobalTable's reachability walk
// re-queues cycle members forever); private functions are not walked.
vm.module @vm_calls {
  // Doubly-recursive Fibonacci via vm.call to itself.
  vm.export @fib
  vm.func private @fib(%n : i32) -> i32 {
    %c1 = vm.const.i32 1
    %c2 = vm.const.i32 2
    %lt = vm.cmp.lt.i32.s %n, %c2 : i32
    vm.cond_br %lt, ^base, ^rec
  ^base:
    vm.return %n : i32
  ^rec:
    %a = vm.sub.i32 %n, %c1 : i32
    %b = vm.sub.i32 %n, %c2 : i32
    %fa = vm.call @fib(%a) : (i32) -> i32
    %fb = vm.call @fib(%b) : (i32) -> i32
    %s = vm.add.i32 %fa, %fb : i32
    vm.return %s : i32
  }

  // Ackermann function A(m, n) (keep m <= 2 / small n: deep recursion).
  vm.export @ackermann
  vm.func private @ackermann(%m : i32, %n : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %mz = vm.cmp.eq.i32 %m, %c0 : i32
    vm.cond_br %mz, ^m_zero, ^m_pos
  ^m_zero:
    %r0 = vm.add.i32 %n, %c1 : i32
    vm.return %r0 : i32
  ^m_pos:
    %m1 = vm.sub.i32 %m, %c1 : i32
    %nz = vm.cmp.eq.i32 %n, %c0 : i32
    vm.cond_br %nz, ^n_zero, ^n_pos
  ^n_zero:
    %r1 = vm.call @ackermann(%m1, %c1) : (i32, i32) -> i32
    vm.return %r1 : i32
  ^n_pos:
    %n1 = vm.sub.i32 %n, %c1 : i32
    %inner = vm.call @ackermann(%m, %n1) : (i32, i32) -> i32
    %r2 = vm.call @ackermann(%m1, %inner) : (i32, i32) -> i32
    vm.return %r2 : i32
  }

  // Recursive factorial in i64 (wraps for n > 20).
  vm.export @fact
  vm.func private @fact(%n : i64) -> i64 {
    %c1 = vm.const.i64 1
    %le = vm.cmp.lte.i64.s %n, %c1 : i64
    vm.cond_br %le, ^base, ^rec
  ^base:
    vm.return %c1 : i64
  ^rec:
    %m = vm.sub.i64 %n, %c1 : i64
    %f = vm.call @fact(%m) : (i64) -> i64
    %p = vm.mul.i64 %n, %f : i64
    vm.return %p : i64
  }

  // Mutual recursion: is_even(n) calls is_odd(n-1) and vice versa.
  vm.export @is_even
  vm.func private @is_even(%n : i32) -> i32 {
    %c1 = vm.const.i32 1
    %z = vm.cmp.nz.i32 %n : i32
    vm.cond_br %z, ^rec, ^base
  ^base:
    vm.return %c1 : i32
  ^rec:
    %m = vm.sub.i32 %n, %c1 : i32
    %r = vm.call @is_odd(%m) : (i32) -> i32
    vm.return %r : i32
  }
  vm.export @is_odd
  vm.func private @is_odd(%n : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %z = vm.cmp.nz.i32 %n : i32
    vm.cond_br %z, ^rec, ^base
  ^base:
    vm.return %c0 : i32
  ^rec:
    %m = vm.sub.i32 %n, %c1 : i32
    %r = vm.call @is_even(%m) : (i32) -> i32
    vm.return %r : i32
  }

  // An internal (non-exported) function returning several values of mixed
  // types, called from an exported one.
  vm.func private @divmod_parts(%a : i32, %b : i32) -> (i32, i32, i64, f32) {
    %q = vm.div.i32.s %a, %b : i32
    %r = vm.rem.i32.s %a, %b : i32
    %q64 = vm.ext.i32.i64.s %q : i32 -> i64
    %rf = vm.cast.si32.f32 %r : i32 -> f32
    vm.return %q, %r, %q64, %rf : i32, i32, i64, f32
  }
  vm.export @multi_result
  vm.func private @multi_result(%a : i32, %b : i32) -> (i32, i32, i64, f32, i32) {
    %q, %r, %q64, %rf = vm.call @divmod_parts(%a, %b) : (i32, i32) -> (i32, i32, i64, f32)
    // Check q*b + r == a on the VM side too.
    %qb = vm.mul.i32 %q, %b : i32
    %back = vm.add.i32 %qb, %r : i32
    %ok = vm.cmp.eq.i32 %back, %a : i32
    vm.return %q, %r, %q64, %rf, %ok : i32, i32, i64, f32, i32
  }

  // Exported under a different name than the function.
  vm.export @fib as("fibonacci")

  // vm.br_table: maps 0..4 to distinct blocks, everything else to default.
  // Each block adds a different amount to the argument it receives.
  vm.export @br_table
  vm.func private @br_table(%i : i32, %x : i32) -> i32 {
    vm.br_table %i {
      default: ^bb_default(%x : i32),
      0: ^bb0(%x : i32),
      1: ^bb1(%x : i32),
      2: ^bb2,
      3: ^bb1(%i : i32),
      4: ^bb0(%i : i32)
    }
  ^bb_default(%d : i32):
    %cm = vm.const.i32 -1000
    %rd = vm.add.i32 %d, %cm : i32
    vm.return %rd : i32
  ^bb0(%v0 : i32):
    %c10 = vm.const.i32 10
    %r0 = vm.add.i32 %v0, %c10 : i32
    vm.return %r0 : i32
  ^bb1(%v1 : i32):
    %c200 = vm.const.i32 200
    %r1 = vm.mul.i32 %v1, %c200 : i32
    vm.return %r1 : i32
  ^bb2:
    %c7 = vm.const.i32 7
    vm.return %c7 : i32
  }

  // A loop whose body dispatches through a br_table (state machine):
  // state 0 -> acc += k, state 1 -> acc *= 3, state 2 -> acc -= 1; state =
  // (state + 1) % 3; runs n steps.
  vm.export @state_machine
  vm.func private @state_machine(%n : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %c3 = vm.const.i32 3
    vm.br ^loop(%c0, %c0, %c0 : i32, i32, i32)
  ^loop(%k : i32, %state : i32, %acc : i32):
    %done = vm.cmp.gte.i32.s %k, %n : i32
    vm.cond_br %done, ^exit(%acc : i32), ^dispatch
  ^dispatch:
    vm.br_table %state {
      default: ^exit(%acc : i32),
      0: ^s0,
      1: ^s1,
      2: ^s2
    }
  ^s0:
    %a0 = vm.add.i32 %acc, %k : i32
    vm.br ^next(%a0 : i32)
  ^s1:
    %a1 = vm.mul.i32 %acc, %c3 : i32
    vm.br ^next(%a1 : i32)
  ^s2:
    %a2 = vm.sub.i32 %acc, %c1 : i32
    vm.br ^next(%a2 : i32)
  ^next(%acc2 : i32):
    %k2 = vm.add.i32 %k, %c1 : i32
    %st1 = vm.add.i32 %state, %c1 : i32
    %st2 = vm.rem.i32.u %st1, %c3 : i32
    vm.br ^loop(%k2, %st2, %acc2 : i32, i32, i32)
  ^exit(%res : i32):
    vm.return %res : i32
  }

  // vm.switch.* select a value by index, or the default when out of range.
  vm.export @switch_i32
  vm.func private @switch_i32(%i : i32) -> i32 {
    %c100 = vm.const.i32 100
    %c200 = vm.const.i32 200
    %c300 = vm.const.i32 300
    %cd = vm.const.i32 -5
    %r = vm.switch.i32 %i[%c100, %c200, %c300] else %cd : i32
    vm.return %r : i32
  }
  vm.export @switch_i64
  vm.func private @switch_i64(%i : i32, %x : i64) -> i64 {
    %a = vm.const.i64 -9000000000
    %b = vm.const.i64 9000000000
    %c = vm.const.i64 42
    %r = vm.switch.i64 %i[%a, %x, %b, %c] else %x : i64
    vm.return %r : i64
  }
  vm.export @switch_f32
  vm.func private @switch_f32(%i : i32) -> f32 {
    %a = vm.const.f32 0.5
    %b = vm.const.f32 -2.25
    %d = vm.const.f32 1.0e+10
    %r = vm.switch.f32 %i[%a, %b] else %d : f32
    vm.return %r : f32
  }
}
