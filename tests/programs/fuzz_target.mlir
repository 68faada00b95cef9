// A host program touching many instruction kinds; its .vmfb is mutated by
// tests/test_fuzz_loader.py.
util.global private mutable @counter = 0 : i32
util.global private mutable @scale = 1.5 : f32

func.func @tick(%step: i32) -> i32 {
  %v = util.global.load @counter : i32
  %n = arith.addi %v, %step : i32
  util.global.store %n, @counter : i32
  return %n : i32
}

func.func @mix(%n: i32, %x: f32) -> (i32, f32, i64) {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c7 = arith.constant 7 : i32
  %zero = arith.constant 0.0 : f32
  %s = util.global.load @scale : f32
  %r:3 = scf.while (%i = %c0, %acc = %c0, %f = %zero) : (i32, i32, f32) -> (i32, i32, f32) {
    %more = arith.cmpi slt, %i, %n : i32
    scf.condition(%more) %i, %acc, %f : i32, i32, f32
  } do {
  ^bb0(%i: i32, %acc: i32, %f: f32):
    %m = arith.muli %i, %c7 : i32
    %q = arith.remui %m, %c7 : i32
    %t = arith.xori %acc, %m : i32
    %u = arith.addi %t, %q : i32
    %fi = arith.sitofp %i : i32 to f32
    %g = arith.mulf %fi, %s : f32
    %h = arith.addf %f, %g : f32
    %i2 = arith.addi %i, %c1 : i32
    scf.yield %i2, %u, %h : i32, i32, f32
  }
  %w = arith.mulf %r#2, %x : f32
  %big = arith.extsi %r#1 : i32 to i64
  %sq = arith.muli %big, %big : i64
  return %r#1, %w, %sq : i32, f32, i64
}

func.func @listy(%n: index) -> i32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %list = util.list.create %n : !util.list<i32>
  util.list.resize %list, %n : !util.list<i32>
  scf.for %i = %c0 to %n step %c1 {
    %v = arith.index_cast %i : index to i32
    util.list.set %list[%i], %v : !util.list<i32>
  }
  %sum = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %c0) -> (index) {
    %v = util.list.get %list[%i] : !util.list<i32>
    %vi = arith.index_cast %v : i32 to index
    %a = arith.addi %acc, %vi : index
    scf.yield %a : index
  }
  %r = arith.index_cast %sum : index to i32
  return %r : i32
}
