// VM-dialect program with mutable i32/i64/f32/ref globals, initial values and
// a vm.initializer (compiled into the module's __init), updated and read back
// by a sequence of calls within one context.
vm.module @vm_globals {
  vm.global.i32 private mutable @counter = 5 : i32
  vm.global.i64 private mutable @acc : i64
  vm.global.f32 private mutable @scale = 1.5 : f32
  vm.global.i64 private mutable @seeded : i64
  vm.global.ref private mutable @history : !vm.list<i64>

  // Runs at load: acc = 2^40 + 1, seeded = sum(1..100) * 1000, history = [].
  vm.initializer {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %c101 = vm.const.i32 101
    %big = vm.const.i64 1099511627777
    vm.global.store.i64 %big, @acc : i64
    %list = vm.list.alloc %c0 : (i32) -> !vm.list<i64>
    vm.global.store.ref %list, @history : !vm.list<i64>
    %z = vm.const.i64 0
    vm.br ^loop(%c1, %z : i32, i64)
  ^loop(%i : i32, %s : i64):
    %more = vm.cmp.lt.i32.s %i, %c101 : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    %i64 = vm.ext.i32.i64.s %i : i32 -> i64
    %s1 = vm.add.i64 %s, %i64 : i64
    %i1 = vm.add.i32 %i, %c1 : i32
    vm.br ^loop(%i1, %s1 : i32, i64)
  ^done:
    %k = vm.const.i64 1000
    %r = vm.mul.i64 %s, %k : i64
    vm.global.store.i64 %r, @seeded : i64
    vm.return
  }

  // counter += d, returns the new counter.
  vm.export @bump
  vm.func private @bump(%d : i32) -> i32 {
    %v = vm.global.load.i32 @counter : i32
    %n = vm.add.i32 %v, %d : i32
    vm.global.store.i32 %n, @counter : i32
    vm.return %n : i32
  }

  // acc = acc * 7 + d (wrapping i64); appends the new value to history.
  vm.export @accumulate
  vm.func private @accumulate(%d : i64) -> i64 {
    %c7 = vm.const.i64 7
    %v = vm.global.load.i64 @acc : i64
    %m = vm.mul.i64 %v, %c7 : i64
    %n = vm.add.i64 %m, %d : i64
    vm.global.store.i64 %n, @acc : i64
    %h = vm.global.load.ref @history : !vm.list<i64>
    %sz = vm.list.size %h : (!vm.list<i64>) -> i32
    %c1 = vm.const.i32 1
    %sz1 = vm.add.i32 %sz, %c1 : i32
    vm.list.resize %h, %sz1 : (!vm.list<i64>, i32)
    vm.list.set.i64 %h, %sz, %n : (!vm.list<i64>, i32, i64)
    vm.return %n : i64
  }

  // scale = scale * x + 0.25 (f32), returns the new scale.
  vm.export @rescale
  vm.func private @rescale(%x : f32) -> f32 {
    %q = vm.const.f32 0.25
    %v = vm.global.load.f32 @scale : f32
    %m = vm.mul.f32 %v, %x : f32
    %n = vm.add.f32 %m, %q : f32
    vm.global.store.f32 %n, @scale : f32
    vm.return %n : f32
  }

  vm.export @read_all
  vm.func private @read_all() -> (i32, i64, f32, i64, i32) {
    %c = vm.global.load.i32 @counter : i32
    %a = vm.global.load.i64 @acc : i64
    %s = vm.global.load.f32 @scale : f32
    %d = vm.global.load.i64 @seeded : i64
    %h = vm.global.load.ref @history : !vm.list<i64>
    %n = vm.list.size %h : (!vm.list<i64>) -> i32
    vm.return %c, %a, %s, %d, %n : i32, i64, f32, i64, i32
  }

  // The history list itself (shared with the global: later calls to
  // accumulate keep appending to it).
  vm.export @get_history
  vm.func private @get_history() -> !vm.list<i64> {
    %h = vm.global.load.ref @history : !vm.list<i64>
    vm.return %h : !vm.list<i64>
  }

  // Resets every global to a known state.
  vm.export @reset
  vm.func private @reset() {
    %c0 = vm.const.i32 0
    %z = vm.const.i64 0
    %one = vm.const.f32 1.0
    vm.global.store.i32 %c0, @counter : i32
    vm.global.store.i64 %z, @acc : i64
    vm.global.store.f32 %one, @scale : f32
    %list = vm.list.alloc %c0 : (i32) -> !vm.list<i64>
    vm.global.store.ref %list, @history : !vm.list<i64>
    vm.return
  }
}
