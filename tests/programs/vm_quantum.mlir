// VM-dialect program for the scheduling quantum: long loops with no
// vm.yield, and a loop whose work is spread over many short calls (each
// callee's own loop stays under any instruction budget).
vm.module @vm_quantum {
  // Sums i*i for i in 0..n-1 (wrapping i32), no suspension point.
  vm.export @spin
  vm.func private @spin(%n : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    vm.br ^loop(%c0, %c0 : i32, i32)
  ^loop(%i : i32, %acc : i32):
    %more = vm.cmp.lt.i32.s %i, %n : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    %sq = vm.mul.i32 %i, %i : i32
    %acc1 = vm.add.i32 %acc, %sq : i32
    %i1 = vm.add.i32 %i, %c1 : i32
    vm.br ^loop(%i1, %acc1 : i32, i32)
  ^done:
    vm.return %acc : i32
  }

  // Adds 1 to x, k times, in a loop of its own.
  vm.func private @bump(%x : i32, %k : i32) -> i32 attributes {inlining_policy = #util.inline.never} {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    vm.br ^loop(%c0, %x : i32, i32)
  ^loop(%i : i32, %v : i32):
    %more = vm.cmp.lt.i32.s %i, %k : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    %i1 = vm.add.i32 %i, %c1 : i32
    %v1 = vm.add.i32 %v, %c1 : i32
    vm.br ^loop(%i1, %v1 : i32, i32)
  ^done:
    vm.return %v : i32
  }

  // Calls bump(acc, k) n times: returns n*k.
  vm.export @spread
  vm.func private @spread(%n : i32, %k : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    vm.br ^loop(%c0, %c0 : i32, i32)
  ^loop(%i : i32, %acc : i32):
    %more = vm.cmp.lt.i32.s %i, %n : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    %acc1 = vm.call @bump(%acc, %k) : (i32, i32) -> i32
    %i1 = vm.add.i32 %i, %c1 : i32
    vm.br ^loop(%i1, %acc1 : i32, i32)
  ^done:
    vm.return %acc : i32
  }
}
