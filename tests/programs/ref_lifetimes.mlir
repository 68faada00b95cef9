// Refs a frame is done with when it suspends: used by
// tests/bytecode/test_ref_lifetimes.py.
vm.module @holder {
  vm.import private @host.observe(%value : !vm.ref<?>) -> i32
  vm.import private @host.wait() -> i32

  // %value is dead once observed: the frame drops it before it waits.
  vm.func @use_then_wait(%value : !vm.ref<?>) -> i32 {
    %seen = vm.call @host.observe(%value) : (!vm.ref<?>) -> i32
    %waited = vm.call @host.wait() : () -> i32
    %sum = vm.add.i32 %seen, %waited : i32
    vm.return %sum : i32
  }
  vm.export @use_then_wait

  // %value is returned after the wait: the frame keeps it.
  vm.func @wait_then_return(%value : !vm.ref<?>) -> !vm.ref<?> {
    %waited = vm.call @host.wait() : () -> i32
    vm.return %value : !vm.ref<?>
  }
  vm.export @wait_then_return
}
