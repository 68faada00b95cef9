// hal.allocator.import of module rodata and of host memory, driven directly:
// which imports IREE accepts, and what each way of writing into the imported
// buffer does (tests/hal/test_constants_in_place.py compares with IREE).
vm.module @inplace_hal {
  vm.import private @hal.devices.get(%index : i32) -> !vm.ref<!hal.device>
  vm.import private @hal.device.allocator(%device : !vm.ref<!hal.device>) -> !vm.ref<!hal.allocator>
  vm.import private @hal.allocator.allocate(%allocator : !vm.ref<!hal.allocator>, %queue_affinity : i64, %memory_types : i32, %buffer_usage : i32, %allocation_size : i64) -> !vm.ref<!hal.buffer>
  vm.import private @hal.allocator.import(%allocator : !vm.ref<!hal.allocator>, %try : i32, %queue_affinity : i64, %memory_types : i32, %buffer_usage : i32, %source : !vm.buffer, %offset : i64, %length : i64) -> !vm.ref<!hal.buffer>
  vm.import private @hal.buffer.load(%source_buffer : !vm.ref<!hal.buffer>, %source_offset : i64, %length : i32) -> i32
  vm.import private @hal.buffer.store(%value : i32, %target_buffer : !vm.ref<!hal.buffer>, %target_offset : i64, %length : i32)
  vm.import private @hal.command_buffer.create(%device : !vm.ref<!hal.device>, %modes : i32, %command_categories : i32, %queue_affinity : i64, %binding_capacity : i32) -> !vm.ref<!hal.command_buffer> attributes {minimum_version = 6 : i32}
  vm.import private @hal.command_buffer.fill_buffer(%command_buffer : !vm.ref<!hal.command_buffer>, %target_buffer : !vm.ref<!hal.buffer>, %target_offset : i64, %length : i64, %target_buffer_slot : i32, %pattern : i64, %pattern_length : i32, %flags : i64)
  vm.import private @hal.command_buffer.finalize(%command_buffer : !vm.ref<!hal.command_buffer>)
  vm.import private @hal.device.queue.execute(%device : !vm.ref<!hal.device>, %queue_affinity : i64, %wait_fence : !vm.ref<!hal.fence>, %signal_fence : !vm.ref<!hal.fence>, %command_buffer : !vm.ref<!hal.command_buffer>, %flags : i64)
  vm.import private @hal.fence.create(%device : !vm.ref<!hal.device>, %flags : i64) -> !vm.ref<!hal.fence>
  vm.import private @hal.fence.await(%timeout_millis : i32, %flags : i64, %fences : !vm.ref<!hal.fence> ...) -> i32 attributes {vm.yield}
  vm.import private @hal.device.queue.copy(%device : !vm.ref<!hal.device>, %queue_affinity : i64, %wait_fence : !vm.ref<!hal.fence>, %signal_fence : !vm.ref<!hal.fence>, %source_buffer : !vm.ref<!hal.buffer>, %source_offset : i64, %target_buffer : !vm.ref<!hal.buffer>, %target_offset : i64, %length : i64, %flags : i64)
  vm.import private @hal.device.queue.fill(%device : !vm.ref<!hal.device>, %queue_affinity : i64, %wait_fence : !vm.ref<!hal.fence>, %signal_fence : !vm.ref<!hal.fence>, %target_buffer : !vm.ref<!hal.buffer>, %target_offset : i64, %length : i64, %pattern : i64, %pattern_length : i32, %flags : i64)
  vm.import private @hal.device.queue.update(%device : !vm.ref<!hal.device>, %queue_affinity : i64, %wait_fence : !vm.ref<!hal.fence>, %signal_fence : !vm.ref<!hal.fence>, %source_buffer : !vm.buffer, %source_offset : i64, %target_buffer : !vm.ref<!hal.buffer>, %target_offset : i64, %length : i64, %flags : i64)

  vm.rodata private @constant <{alignment = 64 : i64}> dense<[7, 11, 13, 17]> : tensor<4xi32>

  // Imports constant[offset, offset + length) with (try, memory types,
  // usage): 1 and the import's first word when it is a buffer, 0 and -1
  // when it is null.
  vm.export @import_constant
  vm.func private @import_constant(%try : i32, %types : i32, %usage : i32, %offset : i64, %length : i64) -> (i32, i32) {
    %c0 = vm.const.i32.zero
    %c4 = vm.const.i32 4
    %cm1 = vm.const.i32 -1
    %z = vm.const.i64.zero
    %all = vm.const.i64 -1
    %device = vm.call @hal.devices.get(%c0) : (i32) -> !vm.ref<!hal.device>
    %allocator = vm.call @hal.device.allocator(%device) : (!vm.ref<!hal.device>) -> !vm.ref<!hal.allocator>
    %source = vm.const.ref.rodata @constant : !vm.buffer
    %buffer = vm.call @hal.allocator.import(%allocator, %try, %all, %types, %usage, %source, %offset, %length) : (!vm.ref<!hal.allocator>, i32, i64, i32, i32, !vm.buffer, i64, i64) -> !vm.ref<!hal.buffer>
    %ok = vm.cmp.nz.ref %buffer : !vm.ref<!hal.buffer>
    vm.cond_br %ok, ^imported, ^refused
  ^imported:
    %first = vm.call @hal.buffer.load(%buffer, %z, %c4) : (!vm.ref<!hal.buffer>, i64, i32) -> i32
    vm.return %ok, %first : i32, i32
  ^refused:
    vm.return %c0, %cm1 : i32, i32
  }

  // Imports the whole constant (try, device-local, %usage), then writes into
  // it: %what 0 queue.copy of a fresh buffer over it, 1 queue.fill, 2
  // queue.update, 3 a command buffer that fills it, 4 buffer.store. Returns
  // the import's first word afterwards.
  vm.export @write_into_constant
  vm.func private @write_into_constant(%what : i32, %usage : i32) -> i32 {
    %c0 = vm.const.i32.zero
    %c1 = vm.const.i32 1
    %c2 = vm.const.i32 2
    %c3 = vm.const.i32 3
    %c4 = vm.const.i32 4
    %cm1 = vm.const.i32 -1
    %types = vm.const.i32 48
    %fresh_usage = vm.const.i32 3075
    %z = vm.const.i64.zero
    %all = vm.const.i64 -1
    %len = vm.const.i64 16
    %pattern = vm.const.i64 5
    %device = vm.call @hal.devices.get(%c0) : (i32) -> !vm.ref<!hal.device>
    %allocator = vm.call @hal.device.allocator(%device) : (!vm.ref<!hal.device>) -> !vm.ref<!hal.allocator>
    %source = vm.const.ref.rodata @constant : !vm.buffer
    %buffer = vm.call @hal.allocator.import(%allocator, %c1, %all, %types, %usage, %source, %z, %len) : (!vm.ref<!hal.allocator>, i32, i64, i32, i32, !vm.buffer, i64, i64) -> !vm.ref<!hal.buffer>
    %null = vm.const.ref.zero : !vm.ref<!hal.fence>
    %signal = vm.call @hal.fence.create(%device, %z) : (!vm.ref<!hal.device>, i64) -> !vm.ref<!hal.fence>
    vm.br ^pick
  ^pick:
    %is_copy = vm.cmp.eq.i32 %what, %c0 : i32
    vm.cond_br %is_copy, ^copy, ^not_copy
  ^copy:
    %fresh = vm.call @hal.allocator.allocate(%allocator, %all, %types, %fresh_usage, %len) : (!vm.ref<!hal.allocator>, i64, i32, i32, i64) -> !vm.ref<!hal.buffer>
    vm.call @hal.device.queue.copy(%device, %all, %null, %signal, %fresh, %z, %buffer, %z, %len, %z) : (!vm.ref<!hal.device>, i64, !vm.ref<!hal.fence>, !vm.ref<!hal.fence>, !vm.ref<!hal.buffer>, i64, !vm.ref<!hal.buffer>, i64, i64, i64) -> ()
    vm.br ^wait
  ^not_copy:
    %is_fill = vm.cmp.eq.i32 %what, %c1 : i32
    vm.cond_br %is_fill, ^fill, ^not_fill
  ^fill:
    vm.call @hal.device.queue.fill(%device, %all, %null, %signal, %buffer, %z, %len, %pattern, %c4, %z) : (!vm.ref<!hal.device>, i64, !vm.ref<!hal.fence>, !vm.ref<!hal.fence>, !vm.ref<!hal.buffer>, i64, i64, i64, i32, i64) -> ()
    vm.br ^wait
  ^not_fill:
    %is_update = vm.cmp.eq.i32 %what, %c2 : i32
    vm.cond_br %is_update, ^update, ^not_update
  ^update:
    vm.call @hal.device.queue.update(%device, %all, %null, %signal, %source, %z, %buffer, %z, %len, %z) : (!vm.ref<!hal.device>, i64, !vm.ref<!hal.fence>, !vm.ref<!hal.fence>, !vm.buffer, i64, !vm.ref<!hal.buffer>, i64, i64, i64) -> ()
    vm.br ^wait
  ^not_update:
    %is_commands = vm.cmp.eq.i32 %what, %c3 : i32
    vm.cond_br %is_commands, ^commands, ^store
  ^commands:
    %commands = vm.call @hal.command_buffer.create(%device, %c1, %c3, %all, %c0) : (!vm.ref<!hal.device>, i32, i32, i64, i32) -> !vm.ref<!hal.command_buffer>
    vm.call @hal.command_buffer.fill_buffer(%commands, %buffer, %z, %len, %c0, %pattern, %c4, %z) : (!vm.ref<!hal.command_buffer>, !vm.ref<!hal.buffer>, i64, i64, i32, i64, i32, i64) -> ()
    vm.call @hal.command_buffer.finalize(%commands) : (!vm.ref<!hal.command_buffer>) -> ()
    vm.call @hal.device.queue.execute(%device, %all, %null, %signal, %commands, %z) : (!vm.ref<!hal.device>, i64, !vm.ref<!hal.fence>, !vm.ref<!hal.fence>, !vm.ref<!hal.command_buffer>, i64) -> ()
    vm.br ^wait
  ^store:
    vm.call @hal.buffer.store(%c3, %buffer, %z, %c4) : (i32, !vm.ref<!hal.buffer>, i64, i32) -> ()
    %stored = vm.call @hal.buffer.load(%buffer, %z, %c4) : (!vm.ref<!hal.buffer>, i64, i32) -> i32
    vm.return %stored : i32
  ^wait:
    %status = vm.call.variadic @hal.fence.await(%cm1, %z, [%signal]) : (i32, i64, !vm.ref<!hal.fence> ...) -> i32
    %first = vm.call @hal.buffer.load(%buffer, %z, %c4) : (!vm.ref<!hal.buffer>, i64, i32) -> i32
    vm.return %first : i32
  }

  // Imports 16 bytes of fresh, mutable, 64-byte-aligned host memory
  // (vm.buffer.alloc) with %usage and fills them on the queue; the first
  // word of the host memory afterwards.
  vm.export @fill_host_import
  vm.func private @fill_host_import(%usage : i32) -> i32 {
    %c0 = vm.const.i32.zero
    %c1 = vm.const.i32 1
    %c4 = vm.const.i32 4
    %c64 = vm.const.i32 64
    %cm1 = vm.const.i32 -1
    %types = vm.const.i32 48
    %z = vm.const.i64.zero
    %all = vm.const.i64 -1
    %len = vm.const.i64 16
    %pattern = vm.const.i64 5
    %device = vm.call @hal.devices.get(%c0) : (i32) -> !vm.ref<!hal.device>
    %allocator = vm.call @hal.device.allocator(%device) : (!vm.ref<!hal.device>) -> !vm.ref<!hal.allocator>
    %host = vm.buffer.alloc %len, %c64 : !vm.buffer
    %buffer = vm.call @hal.allocator.import(%allocator, %c1, %all, %types, %usage, %host, %z, %len) : (!vm.ref<!hal.allocator>, i32, i64, i32, i32, !vm.buffer, i64, i64) -> !vm.ref<!hal.buffer>
    %null = vm.const.ref.zero : !vm.ref<!hal.fence>
    %signal = vm.call @hal.fence.create(%device, %z) : (!vm.ref<!hal.device>, i64) -> !vm.ref<!hal.fence>
    vm.call @hal.device.queue.fill(%device, %all, %null, %signal, %buffer, %z, %len, %pattern, %c4, %z) : (!vm.ref<!hal.device>, i64, !vm.ref<!hal.fence>, !vm.ref<!hal.fence>, !vm.ref<!hal.buffer>, i64, i64, i64, i32, i64) -> ()
    %status = vm.call.variadic @hal.fence.await(%cm1, %z, [%signal]) : (i32, i64, !vm.ref<!hal.fence> ...) -> i32
    %first = vm.buffer.load.i32 %host[%z] : !vm.buffer -> i32
    vm.return %first : i32
  }
}
