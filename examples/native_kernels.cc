// A native kernel library for examples/native_module.py, exported with tvm-ffi.
// Build: python -c "import tvm_ffi.cpp; print(tvm_ffi.cpp.build('kernels',
//   sources=['native_kernels.cc'], extra_cflags=['-DTVM_FFI_DLL_EXPORT_INCLUDE_METADATA=1']))"
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>

#include <algorithm>
#include <cmath>

namespace ffi = tvm::ffi;

// Row-wise softmax of a 2-D f32 tensor, in a new tensor from the host's allocator.
ffi::Tensor Softmax(ffi::TensorView x) {
  if (x.ndim() != 2 || x.dtype().code != kDLFloat || x.dtype().bits != 32) {
    TVM_FFI_THROW(TypeError) << "softmax takes a 2-D f32 tensor";
  }
  ffi::Tensor y = ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, x.shape(), x.dtype(), x.device());
  const int64_t rows = x.size(0), columns = x.size(1);
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t row = 0; row < rows; ++row) {
    const float* line = in + row * columns;
    float* result = out + row * columns;
    const float largest = columns ? *std::max_element(line, line + columns) : 0.0f;
    float total = 0.0f;
    for (int64_t column = 0; column < columns; ++column) {
      result[column] = std::exp(line[column] - largest);
      total += result[column];
    }
    for (int64_t column = 0; column < columns; ++column) result[column] /= total;
  }
  return y;
}

TVM_FFI_DLL_EXPORT_TYPED_FUNC(softmax, Softmax);
