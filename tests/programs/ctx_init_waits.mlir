// A module whose initializer awaits an async host import: initialization
// itself suspends (and can be cancelled, then retried).
vm.module @init_waits {
  vm.import private @host.configure(%key : i32) -> i32
  vm.global.i32 private mutable @setting = 0 : i32

  vm.initializer {
    %c7 = vm.const.i32 7
    %v = vm.call @host.configure(%c7) : (i32) -> i32
    vm.global.store.i32 %v, @setting : i32
    vm.return
  }

  vm.func @configured() -> i32 {
    %v = vm.global.load.i32 @setting : i32
    vm.return %v : i32
  }
  vm.export @configured
}
