// edgesdk firmware test driver: runs every test vector of a TFLite Micro bundle, compares every
// output byte with the expected output and reports through semihosting stdout, one line per fact:
//   edgesdk-fw 1 model=<name> vectors=<n> arena_size=<bytes>
//   arena_used=<bytes>
//   vector <v> PASS | vector <v> FAIL output=<o> index=<i> got=<x> expected=<y> mismatches=<m>
//   heap_used=<bytes> heap_size=<bytes> stack_used=<bytes> stack_size=<bytes>
//   summary vectors=<n> passed=<p> failed=<f>
//   error <what> ...   (then a non-zero exit code)
// Exit code: 0 all vectors match, 1 a mismatch, 2-7 set-up errors (see below), 99 a fault.
// edgesdk_icount_mark() is called twice back to back (marks 0, 1: the marker's own overhead),
// then right before and right after every Invoke() (marks 2v+2, 2v+3) for the icount plugin.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <cstddef>
#include <type_traits>

// cortex_m_generic's log callback; a tree made by create_tflm_tree.py without TARGET has the
// generic micro/debug_log.cc instead (it prints through stderr, which is the same UART here)
#if __has_include("tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h")
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#define EDGESDK_HAS_LOG_CALLBACK 1
#endif
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

struct TensorVectors {
  const uint8_t* data;  // all vectors of one tensor, back to back
  uint32_t bytes;       // bytes of one vector
  uint8_t elem_bytes;
  bool is_signed;
  bool is_float;
};
#define EDGESDK_VECTORS(a)                                                          \
  TensorVectors {                                                                   \
    reinterpret_cast<const uint8_t*>(a), sizeof((a)[0]), sizeof((a)[0][0]),         \
        std::is_signed<std::remove_all_extents_t<decltype(a)>>::value,              \
        std::is_floating_point<std::remove_all_extents_t<decltype(a)>>::value       \
  }

#include "bundle_config.h"  // generated: names of the bundle's symbols

extern "C" uint32_t edgesdk_stack_used(void);  // startup.c
extern "C" void* _sbrk(ptrdiff_t increment);  // newlib/librdimon: the heap break
extern "C" char end;                           // linker script: heap start
extern "C" char __HeapLimit;                   // linker script: heap end
extern "C" char __StackLimit, __StackTop;      // linker script: stack region

extern "C" __attribute__((noinline, used)) void edgesdk_icount_mark(void) {
  __asm volatile("" ::: "memory");
}

#ifdef EDGESDK_LAYER_MARKS
// emulate's per-layer probe: a mark right before and right after every op's Invoke
#include "tensorflow/lite/micro/micro_profiler_interface.h"
class LayerMarks : public tflite::MicroProfilerInterface {
 public:
  uint32_t BeginEvent(const char*) override {
    edgesdk_icount_mark();
    return 0;
  }
  void EndEvent(uint32_t) override { edgesdk_icount_mark(); }
};
static LayerMarks g_layer_marks;
#define EDGESDK_PROFILER (&g_layer_marks)
#else
#define EDGESDK_PROFILER nullptr
#endif

static const TensorVectors kInputs[] = {BUNDLE_INPUT_VECTORS};
static const TensorVectors kOutputs[] = {BUNDLE_OUTPUT_VECTORS};
constexpr int kInputCount = sizeof(kInputs) / sizeof(kInputs[0]);
constexpr int kOutputCount = sizeof(kOutputs) / sizeof(kOutputs[0]);

alignas(16) static uint8_t g_arena[BUNDLE_ARENA_SIZE];
// placement new into static storage: no static constructors, no atexit destructors
alignas(BundleOpResolver) static uint8_t g_resolver_storage[sizeof(BundleOpResolver)];
alignas(tflite::MicroInterpreter) static uint8_t g_interpreter_storage[sizeof(tflite::MicroInterpreter)];

#ifdef EDGESDK_HAS_LOG_CALLBACK
static void LogToStdout(const char* s) { fputs(s, stdout); }
#endif

// One element as a printable integer (floats as their bit pattern).
static long ElementValue(const TensorVectors& t, const uint8_t* p) {
  if (t.elem_bytes == 1) return t.is_signed ? static_cast<long>(static_cast<int8_t>(*p)) : *p;
  if (t.elem_bytes == 2) {
    int16_t v;
    memcpy(&v, p, 2);
    return t.is_signed ? v : static_cast<uint16_t>(v);
  }
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

int main() {
#ifdef EDGESDK_HAS_LOG_CALLBACK
  RegisterDebugLogCallback(LogToStdout);
#endif
  tflite::InitializeTarget();
  printf("edgesdk-fw 1 model=%s vectors=%d arena_size=%u\n", BUNDLE_NAME,
         static_cast<int>(BUNDLE_VECTOR_COUNT), static_cast<unsigned>(sizeof g_arena));
  edgesdk_icount_mark();
  edgesdk_icount_mark();

  const tflite::Model* model = tflite::GetModel(BUNDLE_MODEL_DATA);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    printf("error schema version=%lu expected=%d\n", static_cast<unsigned long>(model->version()),
           TFLITE_SCHEMA_VERSION);
    return 2;
  }
  auto* resolver = new (g_resolver_storage) BundleOpResolver();
  if (BUNDLE_REGISTER_OPS(*resolver) != kTfLiteOk) {
    printf("error register_ops\n");
    return 3;
  }
  auto* interpreter =
      new (g_interpreter_storage) tflite::MicroInterpreter(model, *resolver, g_arena, sizeof g_arena,
                                                           nullptr, EDGESDK_PROFILER);
  if (interpreter->AllocateTensors() != kTfLiteOk) {
    printf("error allocate_tensors arena_size=%u\n", static_cast<unsigned>(sizeof g_arena));
    return 4;
  }
  if (static_cast<int>(interpreter->inputs_size()) != kInputCount ||
      static_cast<int>(interpreter->outputs_size()) != kOutputCount) {
    printf("error io_count inputs=%u outputs=%u expected_inputs=%d expected_outputs=%d\n",
           static_cast<unsigned>(interpreter->inputs_size()),
           static_cast<unsigned>(interpreter->outputs_size()), kInputCount, kOutputCount);
    return 5;
  }
  for (int i = 0; i < kInputCount; ++i) {
    if (interpreter->input(i)->bytes != kInputs[i].bytes) {
      printf("error input=%d bytes=%u expected=%u\n", i,
             static_cast<unsigned>(interpreter->input(i)->bytes), static_cast<unsigned>(kInputs[i].bytes));
      return 5;
    }
  }
  for (int o = 0; o < kOutputCount; ++o) {
    if (interpreter->output(o)->bytes != kOutputs[o].bytes) {
      printf("error output=%d bytes=%u expected=%u\n", o,
             static_cast<unsigned>(interpreter->output(o)->bytes), static_cast<unsigned>(kOutputs[o].bytes));
      return 5;
    }
  }
  printf("arena_used=%u\n", static_cast<unsigned>(interpreter->arena_used_bytes()));

  int failed = 0;
  for (int v = 0; v < BUNDLE_VECTOR_COUNT; ++v) {
    for (int i = 0; i < kInputCount; ++i) {
      memcpy(interpreter->input(i)->data.raw, kInputs[i].data + v * kInputs[i].bytes, kInputs[i].bytes);
    }
    edgesdk_icount_mark();
    TfLiteStatus status = interpreter->Invoke();
    edgesdk_icount_mark();
    if (status != kTfLiteOk) {
      printf("error invoke vector=%d\n", v);
      return 6;
    }
    unsigned mismatches = 0;  // output elements that differ, over all outputs
    int bad_output = -1;      // first differing element: output, index, values
    unsigned bad_index = 0;
    long got = 0, expected = 0;
    for (int o = 0; o < kOutputCount; ++o) {
      const TensorVectors& t = kOutputs[o];
      const uint8_t* actual = reinterpret_cast<const uint8_t*>(interpreter->output(o)->data.raw);
      const uint8_t* want = t.data + v * t.bytes;
      for (uint32_t e = 0; e < t.bytes / t.elem_bytes; ++e) {
        const uint32_t at = e * t.elem_bytes;
        if (memcmp(actual + at, want + at, t.elem_bytes) == 0) continue;
        if (mismatches++ == 0) {
          bad_output = o;
          bad_index = e;
          got = ElementValue(t, actual + at);
          expected = ElementValue(t, want + at);
        }
      }
    }
    if (bad_output >= 0) {
      ++failed;
      printf("vector %d FAIL output=%d index=%u got=%ld expected=%ld mismatches=%u\n", v, bad_output,
             bad_index, got, expected, mismatches);
    } else {
      printf("vector %d PASS\n", v);
    }
  }
  char* heap_top = static_cast<char*>(_sbrk(0));
  unsigned heap_used = static_cast<unsigned>(heap_top - &end);
  unsigned heap_size = static_cast<unsigned>(&__HeapLimit - &end);
  printf("heap_used=%u heap_size=%u stack_used=%u stack_size=%u\n", heap_used, heap_size,
         static_cast<unsigned>(edgesdk_stack_used()), static_cast<unsigned>(&__StackTop - &__StackLimit));
  printf("summary vectors=%d passed=%d failed=%d\n", static_cast<int>(BUNDLE_VECTOR_COUNT),
         static_cast<int>(BUNDLE_VECTOR_COUNT) - failed, failed);
  if (heap_used > heap_size) {
    printf("error heap_overflow used=%u size=%u\n", heap_used, heap_size);
    return 7;
  }
  return failed ? 1 : 0;
}
