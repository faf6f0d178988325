// A thin C shim over Vulkan for Lantern's compute backend. The loader is dlopen'd at run time
// (VK_NO_PROTOTYPES), so a binary built with this module starts, and falls back, where no Vulkan
// loader is installed. It knows nothing about models: contexts, buffers, compute pipelines,
// one recording command buffer, submit/wait, timestamps, and the validation messages.
#ifndef LANTERN_CVULKAN_H
#define LANTERN_CVULKAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result codes: 0 is success; negative values are VkResult codes from the driver; these are the shim's own.
enum {
    LV_OK = 0,
    LV_NO_LOADER = 1,       // libvulkan.so.1 could not be dlopen'd
    LV_NO_DRIVER = 2,       // vkCreateInstance found no driver (VK_ERROR_INCOMPATIBLE_DRIVER)
    LV_NO_DEVICE = 3,       // no physical device with a compute queue and Vulkan 1.2
    LV_NO_VALIDATION = 4,   // validation asked for but VK_LAYER_KHRONOS_validation is not installed
    LV_BAD_ARGUMENT = 5,
    LV_NO_MEMORY_TYPE = 6,
    LV_VULKAN_ERROR = 7     // see lv_last_error for the VkResult
};

/// VkPhysicalDeviceType values.
enum { LV_TYPE_OTHER = 0, LV_TYPE_INTEGRATED = 1, LV_TYPE_DISCRETE = 2, LV_TYPE_VIRTUAL = 3, LV_TYPE_CPU = 4 };

typedef struct lv_device_info {
    char name[256];
    char driver[256];
    int32_t type;                  // LV_TYPE_*
    uint32_t api_version;          // VK_MAKE_API_VERSION packed
    uint64_t device_local_bytes;   // sum of DEVICE_LOCAL heaps
    uint32_t subgroup_size;
    int32_t subgroup_arithmetic;   // subgroupAdd/Max in compute shaders
    int32_t shader_float16;        // shaderFloat16
    int32_t storage_16bit;         // storageBuffer16BitAccess
    int32_t bfloat16;              // VK_KHR_shader_bfloat16 advertised
    int32_t cooperative_matrix;    // VK_KHR_cooperative_matrix advertised
    int32_t usable;                // Vulkan >= 1.2 and a compute queue
    uint64_t max_buffer_bytes;     // min(maxStorageBufferRange, maxMemoryAllocationSize): the largest tensor
} lv_device_info;

typedef struct lv_context lv_context;
typedef struct lv_buffer lv_buffer;
typedef struct lv_pipeline lv_pipeline;

/// Lists physical devices into `out` (up to `capacity`); `*count` receives how many exist.
int lv_list_devices(lv_device_info *out, int capacity, int *count);

/// Creates a context on device `index` (-1: the best usable device; `allow_cpu` = 0 skips
/// CPU-type devices). `validation` enables VK_LAYER_KHRONOS_validation with a debug messenger
/// whose messages are collected (lv_message_count / lv_message). `direct_memory`: 1 = host-visible
/// device memory for every buffer, 0 = device-local buffers with staging, -1 = choose (direct on
/// integrated and CPU devices).
int lv_create(int index, int allow_cpu, int validation, int direct_memory, lv_context **out);
void lv_destroy(lv_context *ctx);
/// The device the context runs on.
void lv_context_info(const lv_context *ctx, lv_device_info *out);
/// A one-line description of the last failure (also for failures before a context exists).
const char *lv_last_error(void);

int lv_message_count(const lv_context *ctx);
/// Message `i` (the first 64 are kept).
const char *lv_message(const lv_context *ctx, int i);

/// A storage buffer of at least `size` bytes (rounded up to 16).
int lv_buffer_create(lv_context *ctx, uint64_t size, lv_buffer **out);
void lv_buffer_destroy(lv_context *ctx, lv_buffer *buf);
uint64_t lv_buffer_size(const lv_buffer *buf);
/// Copies host bytes into the buffer now (the buffer must not be in use by pending work).
int lv_upload(lv_context *ctx, lv_buffer *buf, uint64_t offset, const void *data, uint64_t size);
/// Copies buffer bytes to the host now; call lv_flush first so pending work has finished.
int lv_download(lv_context *ctx, lv_buffer *buf, uint64_t offset, void *data, uint64_t size);
/// Fills bytes with zeros now (the buffer must not be in use by pending work).
int lv_zero(lv_context *ctx, lv_buffer *buf, uint64_t offset, uint64_t size);

/// A compute pipeline from SPIR-V with `bindings` storage buffers (set 0, bindings 0..n-1),
/// `push_size` bytes of push constants, and 4-byte specialization constants with ids 0..n-1.
int lv_pipeline_create(lv_context *ctx, const uint32_t *spirv, size_t spirv_bytes, int bindings,
                       uint32_t push_size, const uint32_t *spec, int spec_count, lv_pipeline **out);
void lv_pipeline_destroy(lv_context *ctx, lv_pipeline *p);

/// Records a dispatch into the pending command buffer, after a barrier on earlier work.
int lv_dispatch(lv_context *ctx, lv_pipeline *p, lv_buffer *const *buffers, int count,
                const void *push, uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz);
/// Records a buffer-to-buffer copy into the pending command buffer, after a barrier on earlier work.
int lv_copy(lv_context *ctx, lv_buffer *src, uint64_t src_offset, lv_buffer *dst, uint64_t dst_offset, uint64_t size);
/// Number of commands recorded and not yet submitted.
int lv_pending(const lv_context *ctx);
/// Submits the pending command buffer and waits for it (no-op when nothing is pending).
int lv_flush(lv_context *ctx);
/// GPU time of the last flushed command buffer in nanoseconds (timestamp queries); 0 if unknown.
uint64_t lv_last_gpu_ns(const lv_context *ctx);

/// What the context has done since it was made: compute dispatches recorded, queue submissions
/// (pending work and immediate transfers), pipeline barriers recorded, and bytes copied from the
/// host to device buffers and back (uploads and downloads, mapped or staged).
typedef struct lv_traffic {
    uint64_t dispatches, submits, barriers, bytes_to_device, bytes_from_device;
} lv_traffic;
void lv_traffic_read(const lv_context *ctx, lv_traffic *out);

#ifdef __cplusplus
}
#endif
#endif
