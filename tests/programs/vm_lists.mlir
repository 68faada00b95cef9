// VM-dialect program exercising vm.list.* ops: alloc/reserve/resize/size,
// typed get/set for i32, i64, f32 and refs, variant lists with mixed element
// types, nested lists, lists returned to the caller, and out-of-range access.
vm.module @vm_lists {
  // [0, 1, 4, 9, ...] as a typed i32 list returned to the caller.
  vm.export @squares_i32
  vm.func private @squares_i32(%n : i32) -> !vm.list<i32> {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %list = vm.list.alloc %n : (i32) -> !vm.list<i32>
    vm.list.resize %list, %n : (!vm.list<i32>, i32)
    vm.br ^loop(%c0 : i32)
  ^loop(%i : i32):
    %more = vm.cmp.lt.i32.s %i, %n : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    %sq = vm.mul.i32 %i, %i : i32
    vm.list.set.i32 %list, %i, %sq : (!vm.list<i32>, i32, i32)
    %i1 = vm.add.i32 %i, %c1 : i32
    vm.br ^loop(%i1 : i32)
  ^done:
    vm.return %list : !vm.list<i32>
  }

  // Powers of -3 as i64 (wrapping), returned as a typed i64 list.
  vm.export @powers_i64
  vm.func private @powers_i64(%n : i32) -> !vm.list<i64> {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %one = vm.const.i64 1
    %m3 = vm.const.i64 -3
    %list = vm.list.alloc %c0 : (i32) -> !vm.list<i64>
    vm.list.reserve %list, %n : (!vm.list<i64>, i32)
    vm.list.resize %list, %n : (!vm.list<i64>, i32)
    vm.br ^loop(%c0, %one : i32, i64)
  ^loop(%i : i32, %p : i64):
    %more = vm.cmp.lt.i32.s %i, %n : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    vm.list.set.i64 %list, %i, %p : (!vm.list<i64>, i32, i64)
    %i1 = vm.add.i32 %i, %c1 : i32
    %p1 = vm.mul.i64 %p, %m3 : i64
    vm.br ^loop(%i1, %p1 : i32, i64)
  ^done:
    vm.return %list : !vm.list<i64>
  }

  // [x, x/2, x/4, ...] (n f32 elements) returned as a typed f32 list.
  vm.export @halves_f32
  vm.func private @halves_f32(%n : i32, %x : f32) -> !vm.list<f32> {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %half = vm.const.f32 0.5
    %list = vm.list.alloc %n : (i32) -> !vm.list<f32>
    vm.list.resize %list, %n : (!vm.list<f32>, i32)
    vm.br ^loop(%c0, %x : i32, f32)
  ^loop(%i : i32, %v : f32):
    %more = vm.cmp.lt.i32.s %i, %n : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    vm.list.set.f32 %list, %i, %v : (!vm.list<f32>, i32, f32)
    %i1 = vm.add.i32 %i, %c1 : i32
    %v1 = vm.mul.f32 %v, %half : f32
    vm.br ^loop(%i1, %v1 : i32, f32)
  ^done:
    vm.return %list : !vm.list<f32>
  }

  // Variant list [a (i32), b (i64), x (f32), [a, b] (nested variant list)].
  vm.export @mixed
  vm.func private @mixed(%a : i32, %b : i64, %x : f32) -> !vm.list<?> {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %c2 = vm.const.i32 2
    %c3 = vm.const.i32 3
    %c4 = vm.const.i32 4
    %inner = vm.list.alloc %c2 : (i32) -> !vm.list<?>
    vm.list.resize %inner, %c2 : (!vm.list<?>, i32)
    vm.list.set.i32 %inner, %c0, %a : (!vm.list<?>, i32, i32)
    vm.list.set.i64 %inner, %c1, %b : (!vm.list<?>, i32, i64)
    %outer = vm.list.alloc %c4 : (i32) -> !vm.list<?>
    vm.list.resize %outer, %c4 : (!vm.list<?>, i32)
    vm.list.set.i32 %outer, %c0, %a : (!vm.list<?>, i32, i32)
    vm.list.set.i64 %outer, %c1, %b : (!vm.list<?>, i32, i64)
    vm.list.set.f32 %outer, %c2, %x : (!vm.list<?>, i32, f32)
    vm.list.set.ref %outer, %c3, %inner : (!vm.list<?>, i32, !vm.list<?>)
    vm.return %outer : !vm.list<?>
  }

  // Builds a list of n lists where list k holds [k, k+1, ..., 2k-1], then
  // walks it through vm.list.get.ref and returns (outer size, sum of all
  // inner sizes, sum of all elements).
  vm.export @nested_sums
  vm.func private @nested_sums(%n : i32) -> (i32, i32, i64) {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %z64 = vm.const.i64 0
    %outer = vm.list.alloc %n : (i32) -> !vm.list<!vm.list<i32>>
    vm.list.resize %outer, %n : (!vm.list<!vm.list<i32>>, i32)
    vm.br ^build(%c0 : i32)
  ^build(%k : i32):
    %more = vm.cmp.lt.i32.s %k, %n : i32
    vm.cond_br %more, ^build_body, ^walk(%c0, %c0, %z64 : i32, i32, i64)
  ^build_body:
    %inner = vm.list.alloc %k : (i32) -> !vm.list<i32>
    vm.list.resize %inner, %k : (!vm.list<i32>, i32)
    vm.br ^fill(%c0 : i32)
  ^fill(%j : i32):
    %more2 = vm.cmp.lt.i32.s %j, %k : i32
    vm.cond_br %more2, ^fill_body, ^fill_done
  ^fill_body:
    %v = vm.add.i32 %k, %j : i32
    vm.list.set.i32 %inner, %j, %v : (!vm.list<i32>, i32, i32)
    %j1 = vm.add.i32 %j, %c1 : i32
    vm.br ^fill(%j1 : i32)
  ^fill_done:
    vm.list.set.ref %outer, %k, %inner : (!vm.list<!vm.list<i32>>, i32, !vm.list<i32>)
    %k1 = vm.add.i32 %k, %c1 : i32
    vm.br ^build(%k1 : i32)
  ^walk(%i : i32, %sizes : i32, %total : i64):
    %more3 = vm.cmp.lt.i32.s %i, %n : i32
    vm.cond_br %more3, ^walk_body, ^done
  ^walk_body:
    %l = vm.list.get.ref %outer, %i : (!vm.list<!vm.list<i32>>, i32) -> !vm.list<i32>
    %sz = vm.list.size %l : (!vm.list<i32>) -> i32
    %sizes1 = vm.add.i32 %sizes, %sz : i32
    vm.br ^sum(%c0, %total : i32, i64)
  ^sum(%q : i32, %t : i64):
    %more4 = vm.cmp.lt.i32.s %q, %sz : i32
    vm.cond_br %more4, ^sum_body, ^sum_done
  ^sum_body:
    %e = vm.list.get.i32 %l, %q : (!vm.list<i32>, i32) -> i32
    %e64 = vm.ext.i32.i64.s %e : i32 -> i64
    %t1 = vm.add.i64 %t, %e64 : i64
    %q1 = vm.add.i32 %q, %c1 : i32
    vm.br ^sum(%q1, %t1 : i32, i64)
  ^sum_done:
    %i1 = vm.add.i32 %i, %c1 : i32
    vm.br ^walk(%i1, %sizes1, %t : i32, i32, i64)
  ^done:
    %osz = vm.list.size %outer : (!vm.list<!vm.list<i32>>) -> i32
    vm.return %osz, %sizes, %total : i32, i32, i64
  }

  // Resizing: grow to n, set the last element, shrink to m, grow back to n.
  // Returns (size after each step..., element n-1 after regrowth (reset to
  // zero if m < n), element m-1).
  vm.export @resize
  vm.func private @resize(%n : i32, %m : i32) -> (i32, i32, i32, i32, i32) {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %c77 = vm.const.i32 77
    %list = vm.list.alloc %c0 : (i32) -> !vm.list<i32>
    vm.list.resize %list, %n : (!vm.list<i32>, i32)
    %s0 = vm.list.size %list : (!vm.list<i32>) -> i32
    %last = vm.sub.i32 %n, %c1 : i32
    vm.list.set.i32 %list, %last, %c77 : (!vm.list<i32>, i32, i32)
    %mlast = vm.sub.i32 %m, %c1 : i32
    vm.list.set.i32 %list, %mlast, %c77 : (!vm.list<i32>, i32, i32)
    vm.list.resize %list, %m : (!vm.list<i32>, i32)
    %s1 = vm.list.size %list : (!vm.list<i32>) -> i32
    vm.list.resize %list, %n : (!vm.list<i32>, i32)
    %s2 = vm.list.size %list : (!vm.list<i32>) -> i32
    %v = vm.list.get.i32 %list, %last : (!vm.list<i32>, i32) -> i32
    %w = vm.list.get.i32 %list, %mlast : (!vm.list<i32>, i32) -> i32
    vm.return %s0, %s1, %s2, %v, %w : i32, i32, i32, i32, i32
  }

  // An i32 stored in a variant list read back as i64 and an i64 read back as
  // i32 (IREE converts value types on access).
  vm.export @convert_on_get
  vm.func private @convert_on_get(%a : i32, %b : i64) -> (i64, i32) {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %c2 = vm.const.i32 2
    %list = vm.list.alloc %c2 : (i32) -> !vm.list<?>
    vm.list.resize %list, %c2 : (!vm.list<?>, i32)
    vm.list.set.i32 %list, %c0, %a : (!vm.list<?>, i32, i32)
    vm.list.set.i64 %list, %c1, %b : (!vm.list<?>, i32, i64)
    %x = vm.list.get.i64 %list, %c0 : (!vm.list<?>, i32) -> i64
    %y = vm.list.get.i32 %list, %c1 : (!vm.list<?>, i32) -> i32
    vm.return %x, %y : i64, i32
  }

  // ---- failing paths ----------------------------------------------------
  // get element i of a 3-element i32 list.
  vm.export @get_oob
  vm.func private @get_oob(%i : i32) -> i32 {
    %c3 = vm.const.i32 3
    %list = vm.list.alloc %c3 : (i32) -> !vm.list<i32>
    vm.list.resize %list, %c3 : (!vm.list<i32>, i32)
    %v = vm.list.get.i32 %list, %i : (!vm.list<i32>, i32) -> i32
    vm.return %v : i32
  }
  // set element i of a 3-element i64 list.
  vm.export @set_oob
  vm.func private @set_oob(%i : i32) -> i64 {
    %c3 = vm.const.i32 3
    %v = vm.const.i64 5
    %list = vm.list.alloc %c3 : (i32) -> !vm.list<i64>
    vm.list.resize %list, %c3 : (!vm.list<i64>, i32)
    vm.list.set.i64 %list, %i, %v : (!vm.list<i64>, i32, i64)
    %r = vm.list.get.i64 %list, %i : (!vm.list<i64>, i32) -> i64
    vm.return %r : i64
  }
  // get.ref of element i of a list of lists (only element 0 exists).
  vm.export @get_ref_oob
  vm.func private @get_ref_oob(%i : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %inner = vm.list.alloc %c1 : (i32) -> !vm.list<i32>
    %outer = vm.list.alloc %c1 : (i32) -> !vm.list<!vm.list<i32>>
    vm.list.resize %outer, %c1 : (!vm.list<!vm.list<i32>>, i32)
    vm.list.set.ref %outer, %c0, %inner : (!vm.list<!vm.list<i32>>, i32, !vm.list<i32>)
    %l = vm.list.get.ref %outer, %i : (!vm.list<!vm.list<i32>>, i32) -> !vm.list<i32>
    %sz = vm.list.size %l : (!vm.list<i32>) -> i32
    vm.return %sz : i32
  }
}
