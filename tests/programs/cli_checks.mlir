// Test functions for `asyncvm check`: three pass (one by failing as its
// fail_ name asks), one fails.
vm.module @cli_checks {
  vm.func @passes() {
    vm.return
  }
  vm.export @passes
  vm.func @also_passes() -> i32 {
    %c = vm.const.i32 4
    vm.return %c : i32
  }
  vm.export @also_passes
  vm.func @fails() {
    %code = vm.const.i32 9
    vm.fail %code, "boom"
  }
  vm.export @fails
  vm.func @fail_expected() {
    %code = vm.const.i32 3
    vm.fail %code, "expected"
  }
  vm.export @fail_expected
  vm.func @takes_argument(%x: i32) -> i32 {
    vm.return %x : i32
  }
  vm.export @takes_argument
}
