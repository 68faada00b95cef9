// Imports from @library (bytecode) and @host (a Python module), one optional.
vm.module @user {
  vm.import private @library.add(%a : i32, %b : i32) -> i32 attributes {minimum_version = 2 : i32}
  vm.import private @library.scale(%x : i64, %factor : f32) -> (i64, f32)
  vm.import private @host.fetch(%key : i32) -> i32
  vm.import private optional @host.maybe(%key : i32) -> i32

  vm.func @sum3(%a: i32, %b: i32, %c: i32) -> i32 {
    %ab = vm.call @library.add(%a, %b) : (i32, i32) -> i32
    %abc = vm.call @library.add(%ab, %c) : (i32, i32) -> i32
    vm.return %abc : i32
  }
  vm.export @sum3

  vm.func @scaled(%x: i64, %f: f32) -> (i64, f32) {
    %r:2 = vm.call @library.scale(%x, %f) : (i64, f32) -> (i64, f32)
    vm.return %r#0, %r#1 : i64, f32
  }
  vm.export @scaled

  // Calls the async host import %n times and sums the answers.
  vm.func @fetch_sum(%n: i32) -> i32 {
    %zero = vm.const.i32.zero
    %one = vm.const.i32 1
    vm.br ^loop(%zero, %zero : i32, i32)
  ^loop(%i: i32, %acc: i32):
    %more = vm.cmp.lt.i32.s %i, %n : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    %v = vm.call @host.fetch(%i) : (i32) -> i32
    %acc2 = vm.add.i32 %acc, %v : i32
    %i2 = vm.add.i32 %i, %one : i32
    vm.br ^loop(%i2, %acc2 : i32, i32)
  ^done:
    vm.return %acc : i32
  }
  vm.export @fetch_sum

  vm.func @has_maybe() -> i32 {
    %r = vm.import.resolved @host.maybe : i32
    vm.return %r : i32
  }
  vm.export @has_maybe

  vm.func @call_maybe(%x: i32) -> i32 {
    %r = vm.call @host.maybe(%x) : (i32) -> i32
    vm.return %r : i32
  }
  vm.export @call_maybe
}
