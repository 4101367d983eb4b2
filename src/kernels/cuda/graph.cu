// Streams and CUDA graphs: a decode step's hundreds of launches recorded once per batch size
// and replayed as one, so the CPU no longer pays a launch per kernel.
#include <cuda_runtime.h>

#include <memory>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::cuda {

class Graph {
 public:
  explicit Graph(cudaGraphExec_t exec) : exec_(exec) {}
  ~Graph() { cudaGraphExecDestroy(exec_); }
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  cudaGraphExec_t exec() const { return exec_; }

 private:
  cudaGraphExec_t exec_;
};

std::shared_ptr<void> create_stream() {
  cudaStream_t stream = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return std::shared_ptr<void>(stream, [](void* handle) { cudaStreamDestroy(static_cast<cudaStream_t>(handle)); });
}

void begin_capture(Stream stream) {
  // Thread-local mode: other threads' CUDA calls (an HTTP thread copying, say) stay legal.
  CUDA_CHECK(cudaStreamBeginCapture(static_cast<cudaStream_t>(stream), cudaStreamCaptureModeThreadLocal));
}

std::shared_ptr<Graph> end_capture(Stream stream) {
  cudaGraph_t graph = nullptr;
  CUDA_CHECK(cudaStreamEndCapture(static_cast<cudaStream_t>(stream), &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  CUDA_CHECK(status);
  return std::make_shared<Graph>(exec);
}

void launch_graph(const Graph& graph, Stream stream) {
  CUDA_CHECK(cudaGraphLaunch(graph.exec(), static_cast<cudaStream_t>(stream)));
}

}  // namespace hanlin::cuda
