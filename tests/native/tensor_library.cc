// A tvm-ffi library for asyncvm's native-module tests: tensors in and out,
// scalars, a tuple, a slow call, and a failing one.
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/container/tuple.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>

#include <chrono>
#include <cstdint>
#include <thread>

namespace ffi = tvm::ffi;

namespace {

void RequireFloat32Vector(const ffi::TensorView& x, const char* what) {
  if (x.ndim() != 1 || x.dtype().code != kDLFloat || x.dtype().bits != 32) {
    TVM_FFI_THROW(TypeError) << what << " must be a vector of f32";
  }
}

// y = x * factor, in a tensor the host allocates.
ffi::Tensor Scale(ffi::TensorView x, double factor) {
  RequireFloat32Vector(x, "scale: x");
  ffi::Tensor y = ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, x.shape(), x.dtype(), x.device());
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.size(0); ++i) out[i] = in[i] * static_cast<float>(factor);
  return y;
}

// x *= factor, in place.
void ScaleInPlace(ffi::TensorView x, double factor) {
  RequireFloat32Vector(x, "scale_in_place: x");
  float* data = static_cast<float*>(x.data_ptr());
  for (int64_t i = 0; i < x.size(0); ++i) data[i] *= static_cast<float>(factor);
}

// The same tensor back: its memory, not a copy.
ffi::Tensor Echo(ffi::Tensor x) { return x; }

// The address of a tensor's first element.
int64_t Address(ffi::TensorView x) {
  return static_cast<int64_t>(reinterpret_cast<intptr_t>(x.data_ptr()));
}

int64_t Add(int64_t a, int64_t b) { return a + b; }

double Half(double value) { return value / 2; }

ffi::Tuple<int64_t, double> Split(int64_t value) {
  return ffi::Tuple<int64_t, double>(value / 2, value * 0.25);
}

// Sleeps, then returns how long it slept.
int64_t SleepMilliseconds(int64_t milliseconds) {
  std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
  return milliseconds;
}

int64_t Fail(int64_t value) {
  TVM_FFI_THROW(ValueError) << "the library refuses " << value;
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(scale, Scale);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(scale_in_place, ScaleInPlace);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(echo, Echo);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(address, Address);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(add, Add);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(half, Half);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(split, Split);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(sleep_ms, SleepMilliseconds);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(fail, Fail);
