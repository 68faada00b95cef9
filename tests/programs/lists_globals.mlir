// Host-side util.list and mutable util.global programs.
module @lists_globals {
  // ---------------------------------------------------------------- lists --
  // Returns [0, 1, 4, 9, ...] (n i32 elements) as a variant list.
  func.func @squares(%n: i32) -> !util.list<?> {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %ub = arith.index_cast %n : i32 to index
    %list = util.list.create %ub : !util.list<?>
    util.list.resize %list, %ub : !util.list<?>
    scf.for %i = %c0 to %ub step %c1 {
      %v = arith.index_cast %i : index to i32
      %sq = arith.muli %v, %v : i32
      util.list.set %list[%i], %sq : i32 -> !util.list<?>
    }
    return %list : !util.list<?>
  }
  // Builds an i64 list of n elements (x_k = k * 1000000007 + seed), then
  // reads it back and returns (size, sum of elements, last element).
  func.func @list_i64_sum(%n: i32, %seed: i64) -> (i32, i64, i64) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %big = arith.constant 1000000007 : i64
    %zero = arith.constant 0 : i64
    %ub = arith.index_cast %n : i32 to index
    %list = util.list.create : !util.list<?>
    util.list.resize %list, %ub : !util.list<?>
    scf.for %i = %c0 to %ub step %c1 {
      %k = arith.index_cast %i : index to i64
      %p = arith.muli %k, %big : i64
      %v = arith.addi %p, %seed : i64
      util.list.set %list[%i], %v : i64 -> !util.list<?>
    }
    %sum = scf.for %i = %c0 to %ub step %c1 iter_args(%acc = %zero) -> (i64) {
      %v = util.list.get %list[%i] : !util.list<?> -> i64
      %a = arith.addi %acc, %v : i64
      scf.yield %a : i64
    }
    %sz = util.list.size %list : !util.list<?>
    %last_idx = arith.subi %sz, %c1 : index
    %last = util.list.get %list[%last_idx] : !util.list<?> -> i64
    %sz32 = arith.index_cast %sz : index to i32
    return %sz32, %sum, %last : i32, i64, i64
  }
  // Grows a list to n, shrinks it to m, grows it to n again and returns the
  // size after each step plus the value at index m-1 (kept) after regrowth.
  func.func @resize_steps(%n: i32, %m: i32) -> (i32, i32, i32, i32) {
    %c1 = arith.constant 1 : index
    %c7 = arith.constant 7 : i32
    %nn = arith.index_cast %n : i32 to index
    %mm = arith.index_cast %m : i32 to index
    %list = util.list.create : !util.list<?>
    util.list.resize %list, %nn : !util.list<?>
    %s0 = util.list.size %list : !util.list<?>
    %idx = arith.subi %mm, %c1 : index
    util.list.set %list[%idx], %c7 : i32 -> !util.list<?>
    util.list.resize %list, %mm : !util.list<?>
    %s1 = util.list.size %list : !util.list<?>
    util.list.resize %list, %nn : !util.list<?>
    %s2 = util.list.size %list : !util.list<?>
    %v = util.list.get %list[%idx] : !util.list<?> -> i32
    %r0 = arith.index_cast %s0 : index to i32
    %r1 = arith.index_cast %s1 : index to i32
    %r2 = arith.index_cast %s2 : index to i32
    return %r0, %r1, %r2, %v : i32, i32, i32, i32
  }
  // A mixed list: [a (i32), b (i64), x (f32), [a, a+1] (nested list)].
  func.func @mixed(%a: i32, %b: i64, %x: f32) -> !util.list<?> {
    %c1 = arith.constant 1 : i32
    %a1 = arith.addi %a, %c1 : i32
    %inner = util.list.construct [%a : i32, %a1 : i32] : !util.list<?>
    %outer = util.list.construct [%a : i32, %b : i64, %x : f32, %inner : !util.list<?>] : !util.list<?>
    return %outer : !util.list<?>
  }
  // Reads element i of a 3-element list; out-of-range i fails at runtime.
  func.func @get_at(%i: i32) -> i32 {
    %c10 = arith.constant 10 : i32
    %c20 = arith.constant 20 : i32
    %c30 = arith.constant 30 : i32
    %list = util.list.construct [%c10 : i32, %c20 : i32, %c30 : i32] : !util.list<?>
    %idx = arith.index_cast %i : i32 to index
    %v = util.list.get %list[%idx] : !util.list<?> -> i32
    return %v : i32
  }

  // -------------------------------------------------------------- globals --
  util.global private mutable @counter = 0 : i32
  util.global private mutable @total = 100 : i64
  util.global private mutable @scale = 1.0 : f32
  // Initialized at module load by an initializer (sum 1..10 = 55).
  util.global private mutable @seeded : i32
  util.initializer {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c11 = arith.constant 11 : index
    %z = arith.constant 0 : i32
    %s = scf.for %i = %c1 to %c11 step %c1 iter_args(%acc = %z) -> (i32) {
      %v = arith.index_cast %i : index to i32
      %a = arith.addi %acc, %v : i32
      scf.yield %a : i32
    }
    util.global.store %s, @seeded : i32
    util.return
  }

  // counter += d; returns the new value.
  func.func @bump(%d: i32) -> i32 {
    %v = util.global.load @counter : i32
    %n = arith.addi %v, %d : i32
    util.global.store %n, @counter : i32
    return %n : i32
  }
  // total = total * 3 + d (i64, wraps); returns the new value.
  func.func @accumulate(%d: i64) -> i64 {
    %c3 = arith.constant 3 : i64
    %v = util.global.load @total : i64
    %m = arith.muli %v, %c3 : i64
    %n = arith.addi %m, %d : i64
    util.global.store %n, @total : i64
    return %n : i64
  }
  // scale = scale * x; returns the new value.
  func.func @rescale(%x: f32) -> f32 {
    %v = util.global.load @scale : f32
    %n = arith.mulf %v, %x : f32
    util.global.store %n, @scale : f32
    return %n : f32
  }
  // seeded += counter; returns the new value.
  func.func @fold_counter() -> i32 {
    %c = util.global.load @counter : i32
    %s = util.global.load @seeded : i32
    %n = arith.addi %s, %c : i32
    util.global.store %n, @seeded : i32
    return %n : i32
  }
  func.func @read_all() -> (i32, i64, f32, i32) {
    %c = util.global.load @counter : i32
    %t = util.global.load @total : i64
    %s = util.global.load @scale : f32
    %d = util.global.load @seeded : i32
    return %c, %t, %s, %d : i32, i64, f32, i32
  }
}
