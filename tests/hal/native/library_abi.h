/* IREE's executable library ABI (runtime/src/iree/hal/local/executable_library.h,
 * version 6) as far as the test libraries need it: the header, export
 * attributes, dispatch and workgroup states, and the library's tables. */
#ifndef ASYNCVM_TESTS_LIBRARY_ABI_H
#define ASYNCVM_TESTS_LIBRARY_ABI_H

#include <stddef.h>
#include <stdint.h>

struct header { uint32_t version; const char *name; uint32_t features; int32_t sanitizer; };
struct attributes {
  uint64_t flags; uint16_t local_memory_pages; uint8_t constant_count, binding_count;
  uint32_t size_x, size_y; uint16_t size_z, parameter_count; uint64_t reserved[5];
};
struct dispatch {
  uint32_t size_x, size_y; uint16_t size_z, constant_count;
  uint32_t count_x, count_y; uint16_t count_z; uint8_t max_concurrency, binding_count;
  const uint32_t *constants; void *const *bindings; const size_t *lengths;
};
struct workgroup {
  uint32_t x, y; uint16_t z, reserved; uint32_t processor_id;
  void *local_memory; uint32_t local_memory_size;
};
typedef int (*entry)(const void *, const struct dispatch *, const struct workgroup *);
struct library {
  const struct header *header;
  struct { uint32_t count; const char *const *symbols; } imports;
  struct {
    uint32_t count; const entry *ptrs; const struct attributes *attrs; const void *params;
    const void *occupancy; const char *const *names; const void *tags;
    const void *parameter_names; const void *source_locations; const void *stage_locations;
  } exports;
  uint32_t constants; uint32_t sources[4];
};

/* Defines the library named NAME with COUNT exports (the arrays ``entries``,
 * ``attributes`` and ``names`` defined before it) and its query function. */
#define ASYNCVM_TEST_LIBRARY(NAME, COUNT)                                                   \
  static const struct header header = {6, NAME, 0, 0};                                    \
  static const struct library library = {                                                 \
    &header, {0, NULL},                                                                   \
    {COUNT, entries, attributes, NULL, NULL, names, NULL, NULL, NULL, NULL}, 0, {0}};     \
  const struct header **iree_hal_executable_library_query(uint32_t version,               \
                                                          const void *env) {              \
    (void)env;                                                                            \
    return version >= 6 ? (const struct header **)&library : NULL;                        \
  }

#endif
