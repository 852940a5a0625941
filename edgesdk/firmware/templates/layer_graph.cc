// edgesdk per-layer probe (emulate only, never a user's firmware): TFLite Micro's graph code
// compiled with its per-op profiler hooks, which TF_LITE_STRIP_ERROR_STRINGS (the release
// build the library uses) compiles out. Every header is first included with that define, so
// the log macros stay stripped and every type keeps the library's definition; only the graph
// code below it sees the profiler. Linked before the library, it replaces the library's copy.
#include "tensorflow/lite/micro/micro_interpreter_graph.h"

#include <algorithm>

#include "flatbuffers/flatbuffers.h"
#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/kernels/internal/compatibility.h"
#include "tensorflow/lite/micro/flatbuffer_utils.h"
#include "tensorflow/lite/micro/memory_helpers.h"
#include "tensorflow/lite/micro/micro_context.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/schema/schema_generated.h"

#undef TF_LITE_STRIP_ERROR_STRINGS
#include "tensorflow/lite/micro/micro_profiler.h"
#include "tensorflow/lite/micro/micro_interpreter_graph.cc"
