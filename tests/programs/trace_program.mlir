// VM-dialect program for the execution-trace tests
// (tests/bytecode/test_trace_execution.py): straight-line code, a counted
// loop, calls between functions, a loop that yields (for invocations that
// interleave) and a failure after a few instructions.
vm.module @trace_program {
  // Every instruction runs once, in order: ((a + b) * 3) ^ a.
  vm.export @straight
  vm.func private @straight(%a : i32, %b : i32) -> i32 {
    %c3 = vm.const.i32 3
    %s = vm.add.i32 %a, %b : i32
    %p = vm.mul.i32 %s, %c3 : i32
    %x = vm.xor.i32 %p, %a : i32
    vm.return %x : i32
  }

  // Sum of 0..n-1: an entry block, a loop header and body, an exit block.
  vm.export @sum_to
  vm.func private @sum_to(%n : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    vm.br ^header(%c0, %c0 : i32, i32)
  ^header(%i : i32, %acc : i32):
    %more = vm.cmp.lt.i32.s %i, %n : i32
    vm.cond_br %more, ^body, ^exit
  ^body:
    %acc1 = vm.add.i32 %acc, %i : i32
    %i1 = vm.add.i32 %i, %c1 : i32
    vm.br ^header(%i1, %acc1 : i32, i32)
  ^exit:
    vm.return %acc : i32
  }

  // x * x + 1, called twice by @square_twice (never inlined: the calls stay).
  // Unexported, so it is named __function_2 in listings and traces.
  vm.func private @square_plus_one(%x : i32) -> i32
      attributes {inlining_policy = #util.inline.never} {
    %c1 = vm.const.i32 1
    %s = vm.mul.i32 %x, %x : i32
    %r = vm.add.i32 %s, %c1 : i32
    vm.return %r : i32
  }

  // square_plus_one(square_plus_one(x)).
  vm.export @square_twice
  vm.func private @square_twice(%x : i32) -> i32 {
    %a = vm.call @square_plus_one(%x) : (i32) -> i32
    %b = vm.call @square_plus_one(%a) : (i32) -> i32
    vm.return %b : i32
  }

  // Sum of 0..n-1, yielding to the event loop once per iteration.
  vm.export @yield_sum
  vm.func private @yield_sum(%n : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    vm.br ^header(%c0, %c0 : i32, i32)
  ^header(%i : i32, %acc : i32):
    %more = vm.cmp.lt.i32.s %i, %n : i32
    vm.cond_br %more, ^body, ^exit
  ^body:
    %acc1 = vm.add.i32 %acc, %i : i32
    %i1 = vm.add.i32 %i, %c1 : i32
    vm.yield ^header(%i1, %acc1 : i32, i32)
  ^exit:
    vm.return %acc : i32
  }

  // Fails with FAILED_PRECONDITION (9) when x is negative.
  vm.export @check_positive
  vm.func private @check_positive(%x : i32) -> i32 {
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
}
