/* A minimal executable library for tests of asyncvm's library ABI handling.
 * Export 0 ("write_ids") stores each workgroup's x id into binding 0 (as
 * uint32) and returns 0; export 1 ("fail") returns 7. Built with
 * -DFAKE_VERSION=N it reports library ABI version N; the query answers
 * NULL when asked for an older version than it has. */
#include <stddef.h>
#include <stdint.h>

#ifndef FAKE_VERSION
#define FAKE_VERSION 6
#endif

typedef struct { uint32_t version; const char* name; uint32_t features; int32_t sanitizer; } header_t;
typedef struct { uint32_t count; const char* const* symbols; } imports_t;
typedef struct {
  uint64_t flags; uint16_t local_memory_pages; uint8_t constant_count; uint8_t binding_count;
  uint32_t workgroup_size_x, workgroup_size_y; uint16_t workgroup_size_z, parameter_count;
  uint64_t reserved[5];
} attrs_t;
typedef struct {
  uint32_t workgroup_size_x, workgroup_size_y; uint16_t workgroup_size_z, constant_count;
  uint32_t workgroup_count_x, workgroup_count_y; uint16_t workgroup_count_z;
  uint8_t max_concurrency, binding_count;
  const uint32_t* constants; void* const* binding_ptrs; const size_t* binding_lengths;
} dispatch_state_t;
typedef struct {
  uint32_t workgroup_id_x, workgroup_id_y; uint16_t workgroup_id_z, reserved;
  uint32_t processor_id; void* local_memory; uint32_t local_memory_size;
} workgroup_state_t;
typedef int (*entry_t)(const void*, const dispatch_state_t*, const workgroup_state_t*);
typedef struct {
  uint32_t count; const entry_t* ptrs; const attrs_t* attrs; const void* params;
  const void* occupancy; const char* const* names; const void* tags;
  const void* parameter_names; const void* source_locations; const void* stage_locations;
} exports_t;
typedef struct {
  const header_t* header; imports_t imports; exports_t exports; uint32_t constants;
  uint32_t sources[4];
} library_t;

static int write_ids(const void* environment, const dispatch_state_t* dispatch,
                     const workgroup_state_t* workgroup) {
  uint32_t* out = (uint32_t*)dispatch->binding_ptrs[0];
  out[workgroup->workgroup_id_x] = workgroup->workgroup_id_x + dispatch->constants[0];
  return 0;
}

static int fail(const void* environment, const dispatch_state_t* dispatch,
                const workgroup_state_t* workgroup) {
  return 7;
}

static const header_t header = {FAKE_VERSION, "fake", 0, 0};
static const entry_t entries[] = {write_ids, fail};
static const attrs_t attributes[2] = {{0, 0, 1, 1, 1, 1, 1, 0, {0}}, {0, 0, 0, 0, 1, 1, 1, 0, {0}}};
static const char* const names[] = {"write_ids", "fail"};
static const library_t library = {&header, {0, NULL},
                                  {2, entries, attributes, NULL, NULL, names, NULL, NULL, NULL, NULL},
                                  0, {0}};

/* Returns the address of the library, whose first field is the header
 * pointer: the "header_t**" of the ABI. */
const header_t** iree_hal_executable_library_query(uint32_t max_version, const void* environment) {
  return max_version >= FAKE_VERSION ? (const header_t**)&library : NULL;
}
