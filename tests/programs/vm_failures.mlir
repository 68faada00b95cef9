// VM-dialect program with failing paths: vm.fail with a caller-chosen status
// code, vm.cond_fail, the vm.check.* pseudo-ops, integer division by zero,
// failures propagating through nested calls, and calls to an unresolved
// optional import.
vm.module @vm_failures {
  vm.import private optional @missing_module.add_one(%x : i32) -> i32
  vm.import private optional @missing_module.sum(%xs : i32 ...) -> i32

  // vm.fail with the status code given by the caller (must be non-zero:
  // IREE treats vm.fail with status 0 as a no-op).
  vm.export @fail_with
  vm.func private @fail_with(%code : i32) {
    vm.fail %code, "fail_with: deliberate failure"
  }

  // A constant status code: 9 = FAILED_PRECONDITION.
  vm.export @fail_precondition
  vm.func private @fail_precondition(%x : i32) -> i32 {
    %c9 = vm.const.i32 9
    %c0 = vm.const.i32 0
    %neg = vm.cmp.lt.i32.s %x, %c0 : i32
    vm.cond_br %neg, ^bad, ^good
  ^good:
    %r = vm.add.i32 %x, %x : i32
    vm.return %r : i32
  ^bad:
    vm.fail %c9, "x must be non-negative"
  }

  // vm.cond_fail: fails with status 11 (OUT_OF_RANGE) when x > limit.
  vm.export @cond_fail
  vm.func private @cond_fail(%x : i32, %limit : i32) -> i32 {
    %c11 = vm.const.i32 11
    %over = vm.cmp.lt.i32.s %limit, %x : i32
    vm.cond_fail %over, %c11, "x exceeds limit"
    %r = vm.sub.i32 %limit, %x : i32
    vm.return %r : i32
  }

  // vm.check.* pseudo-ops (lowered to vm.cond_fail with status 9).
  vm.export @check_eq
  vm.func private @check_eq(%a : i32, %b : i32) -> i32 {
    vm.check.eq %a, %b, "a == b" : i32
    %r = vm.add.i32 %a, %b : i32
    vm.return %r : i32
  }
  vm.export @check_ne
  vm.func private @check_ne(%a : i64, %b : i64) -> i64 {
    vm.check.ne %a, %b, "a != b" : i64
    %r = vm.sub.i64 %a, %b : i64
    vm.return %r : i64
  }
  vm.export @check_nz
  vm.func private @check_nz(%a : i32) -> i32 {
    vm.check.nz %a, "a != 0" : i32
    vm.return %a : i32
  }
  vm.export @check_nearly_eq
  vm.func private @check_nearly_eq(%a : f32, %b : f32) -> f32 {
    vm.check.nearly_eq %a, %b, "a ~= b" : f32
    %r = vm.sub.f32 %a, %b : f32
    vm.return %r : f32
  }

  // Integer division; b == 0 is a failure (IREE's own runtime does not check:
  // it executes a native division and the process dies with SIGFPE).
  vm.export @div_i32
  vm.func private @div_i32(%a : i32, %b : i32) -> i32 {
    %r = vm.div.i32.s %a, %b : i32
    vm.return %r : i32
  }
  vm.export @rem_i64
  vm.func private @rem_i64(%a : i64, %b : i64) -> i64 {
    %r = vm.rem.i64.u %a, %b : i64
    vm.return %r : i64
  }

  // A failure three calls deep propagates out of the outer invocation.
  vm.func private @level3(%x : i32) -> i32 {
    %c5 = vm.const.i32 5
    %c100 = vm.const.i32 100
    %big = vm.cmp.lt.i32.s %c100, %x : i32
    vm.cond_br %big, ^bad, ^ok
  ^ok:
    %r = vm.add.i32 %x, %c5 : i32
    vm.return %r : i32
  ^bad:
    vm.fail %c5, "level3: x too big (NOT_FOUND)"
  }
  vm.func private @level2(%x : i32) -> i32 {
    %c2 = vm.const.i32 2
    %y = vm.mul.i32 %x, %c2 : i32
    %r = vm.call @level3(%y) : (i32) -> i32
    vm.return %r : i32
  }
  vm.export @nested_fail
  vm.func private @nested_fail(%x : i32) -> i32 {
    %c1 = vm.const.i32 1
    %y = vm.add.i32 %x, %c1 : i32
    %r = vm.call @level2(%y) : (i32) -> i32
    vm.return %r : i32
  }

  // Unbounded recursion depth: depth(n) = n for small n; large n exhausts
  // the VM stack.
  vm.export @depth
  vm.func private @depth(%n : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %z = vm.cmp.eq.i32 %n, %c0 : i32
    vm.cond_br %z, ^base, ^rec
  ^base:
    vm.return %c0 : i32
  ^rec:
    %m = vm.sub.i32 %n, %c1 : i32
    %d = vm.call @depth(%m) : (i32) -> i32
    %r = vm.add.i32 %d, %c1 : i32
    vm.return %r : i32
  }

  // ---- optional imports -------------------------------------------------
  // Whether the optional imports were resolved (0 unless a module named
  // missing_module is registered).
  vm.export @imports_resolved
  vm.func private @imports_resolved() -> (i32, i32) {
    %a = vm.import.resolved @missing_module.add_one : i32
    %b = vm.import.resolved @missing_module.sum : i32
    vm.return %a, %b : i32, i32
  }
  // Calls the import only if resolved; otherwise falls back to x + 1000.
  vm.export @guarded_call
  vm.func private @guarded_call(%x : i32) -> i32 {
    %ok = vm.import.resolved @missing_module.add_one : i32
    vm.cond_br %ok, ^call, ^fallback
  ^call:
    %r = vm.call @missing_module.add_one(%x) : (i32) -> i32
    vm.return %r : i32
  ^fallback:
    %c1000 = vm.const.i32 1000
    %f = vm.add.i32 %x, %c1000 : i32
    vm.return %f : i32
  }
  // Variadic call guarded the same way; the fallback sums in VM code.
  vm.export @guarded_variadic
  vm.func private @guarded_variadic(%a : i32, %b : i32, %c : i32) -> i32 {
    %ok = vm.import.resolved @missing_module.sum : i32
    vm.cond_br %ok, ^call, ^fallback
  ^call:
    %r = vm.call.variadic @missing_module.sum([%a, %b, %c]) : (i32 ...) -> i32
    vm.return %r : i32
  ^fallback:
    %ab = vm.add.i32 %a, %b : i32
    %abc = vm.add.i32 %ab, %c : i32
    %neg = vm.const.i32 -1
    %f = vm.mul.i32 %abc, %neg : i32
    vm.return %f : i32
  }
  // Calling an unresolved optional import is a runtime failure.
  vm.export @unguarded_call
  vm.func private @unguarded_call(%x : i32) -> i32 {
    %r = vm.call @missing_module.add_one(%x) : (i32) -> i32
    vm.return %r : i32
  }
  vm.export @unguarded_variadic
  vm.func private @unguarded_variadic(%a : i32, %b : i32) -> i32 {
    %r = vm.call.variadic @missing_module.sum([%a, %b]) : (i32 ...) -> i32
    vm.return %r : i32
  }
}
