// See include/cvulkan.h. Single compute queue; one command buffer is recorded at a time and
// submitted by lv_flush. Errors never abort: every entry point returns a code, and
// lv_last_error() says what happened in one line.
#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include "cvulkan.h"

static _Thread_local char last_error[512];

static int fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

const char *lv_last_error(void) { return last_error; }

// MARK: Loader

#define FN(name) PFN_##name name
typedef struct lv_fns {
    void *lib;
    FN(vkGetInstanceProcAddr);
    FN(vkCreateInstance); FN(vkEnumerateInstanceLayerProperties); FN(vkEnumerateInstanceExtensionProperties);
    FN(vkDestroyInstance); FN(vkEnumeratePhysicalDevices); FN(vkGetPhysicalDeviceProperties);
    FN(vkGetPhysicalDeviceProperties2); FN(vkGetPhysicalDeviceFeatures2);
    FN(vkGetPhysicalDeviceQueueFamilyProperties); FN(vkGetPhysicalDeviceMemoryProperties);
    FN(vkEnumerateDeviceExtensionProperties); FN(vkCreateDevice); FN(vkDestroyDevice); FN(vkGetDeviceQueue);
    FN(vkCreateBuffer); FN(vkDestroyBuffer); FN(vkGetBufferMemoryRequirements); FN(vkAllocateMemory);
    FN(vkFreeMemory); FN(vkBindBufferMemory); FN(vkMapMemory); FN(vkUnmapMemory);
    FN(vkCreateShaderModule); FN(vkDestroyShaderModule); FN(vkCreateDescriptorSetLayout);
    FN(vkDestroyDescriptorSetLayout); FN(vkCreatePipelineLayout); FN(vkDestroyPipelineLayout);
    FN(vkCreateComputePipelines); FN(vkDestroyPipeline); FN(vkCreatePipelineCache); FN(vkDestroyPipelineCache);
    FN(vkCreateDescriptorPool); FN(vkDestroyDescriptorPool); FN(vkResetDescriptorPool);
    FN(vkAllocateDescriptorSets); FN(vkUpdateDescriptorSets); FN(vkCreateCommandPool); FN(vkDestroyCommandPool);
    FN(vkAllocateCommandBuffers); FN(vkBeginCommandBuffer); FN(vkEndCommandBuffer); FN(vkResetCommandBuffer);
    FN(vkCmdBindPipeline); FN(vkCmdBindDescriptorSets); FN(vkCmdPushConstants); FN(vkCmdDispatch);
    FN(vkCmdPipelineBarrier); FN(vkCmdCopyBuffer); FN(vkCmdFillBuffer); FN(vkCmdWriteTimestamp);
    FN(vkCmdResetQueryPool); FN(vkCreateQueryPool); FN(vkDestroyQueryPool); FN(vkGetQueryPoolResults);
    FN(vkCreateFence); FN(vkDestroyFence); FN(vkResetFences); FN(vkWaitForFences); FN(vkQueueSubmit);
    FN(vkDeviceWaitIdle);
    PFN_vkCreateDebugUtilsMessengerEXT vkCreateDebugUtilsMessengerEXT;
    PFN_vkDestroyDebugUtilsMessengerEXT vkDestroyDebugUtilsMessengerEXT;
} lv_fns;

// Opens the loader (LANTERN_VULKAN_LOADER overrides the library name, for tests) and the global functions.
static int load_loader(lv_fns *f) {
    memset(f, 0, sizeof *f);
    const char *path = getenv("LANTERN_VULKAN_LOADER");
    if (path && *path) {
        f->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    } else {
#ifdef __APPLE__
        const char *names[] = { "libvulkan.1.dylib", "libMoltenVK.dylib", NULL };
#else
        const char *names[] = { "libvulkan.so.1", "libvulkan.so", NULL };
#endif
        for (int i = 0; names[i] && !f->lib; i++) f->lib = dlopen(path = names[i], RTLD_NOW | RTLD_LOCAL);
        if (!f->lib) path = names[0];
    }
    if (!f->lib) return fail(LV_NO_LOADER, "no Vulkan loader: cannot open %s", path);
    f->vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(f->lib, "vkGetInstanceProcAddr");
    if (!f->vkGetInstanceProcAddr) { dlclose(f->lib); f->lib = NULL; return fail(LV_NO_LOADER, "no Vulkan loader: %s lacks vkGetInstanceProcAddr", path); }
#define G(name) f->name = (PFN_##name)f->vkGetInstanceProcAddr(NULL, #name)
    G(vkCreateInstance); G(vkEnumerateInstanceLayerProperties); G(vkEnumerateInstanceExtensionProperties);
#undef G
    if (!f->vkCreateInstance) { dlclose(f->lib); f->lib = NULL; return fail(LV_NO_LOADER, "no Vulkan loader: vkCreateInstance missing"); }
    return LV_OK;
}

static void load_instance_fns(lv_fns *f, VkInstance inst) {
#define I(name) f->name = (PFN_##name)f->vkGetInstanceProcAddr(inst, #name)
    I(vkDestroyInstance); I(vkEnumeratePhysicalDevices); I(vkGetPhysicalDeviceProperties);
    I(vkGetPhysicalDeviceProperties2); I(vkGetPhysicalDeviceFeatures2); I(vkGetPhysicalDeviceQueueFamilyProperties);
    I(vkGetPhysicalDeviceMemoryProperties); I(vkEnumerateDeviceExtensionProperties); I(vkCreateDevice);
    I(vkDestroyDevice); I(vkGetDeviceQueue); I(vkCreateBuffer); I(vkDestroyBuffer); I(vkGetBufferMemoryRequirements);
    I(vkAllocateMemory); I(vkFreeMemory); I(vkBindBufferMemory); I(vkMapMemory); I(vkUnmapMemory);
    I(vkCreateShaderModule); I(vkDestroyShaderModule); I(vkCreateDescriptorSetLayout); I(vkDestroyDescriptorSetLayout);
    I(vkCreatePipelineLayout); I(vkDestroyPipelineLayout); I(vkCreateComputePipelines); I(vkDestroyPipeline);
    I(vkCreatePipelineCache); I(vkDestroyPipelineCache); I(vkCreateDescriptorPool); I(vkDestroyDescriptorPool);
    I(vkResetDescriptorPool); I(vkAllocateDescriptorSets); I(vkUpdateDescriptorSets); I(vkCreateCommandPool);
    I(vkDestroyCommandPool); I(vkAllocateCommandBuffers); I(vkBeginCommandBuffer); I(vkEndCommandBuffer);
    I(vkResetCommandBuffer); I(vkCmdBindPipeline); I(vkCmdBindDescriptorSets); I(vkCmdPushConstants);
    I(vkCmdDispatch); I(vkCmdPipelineBarrier); I(vkCmdCopyBuffer); I(vkCmdFillBuffer); I(vkCmdWriteTimestamp);
    I(vkCmdResetQueryPool); I(vkCreateQueryPool); I(vkDestroyQueryPool); I(vkGetQueryPoolResults);
    I(vkCreateFence); I(vkDestroyFence); I(vkResetFences); I(vkWaitForFences); I(vkQueueSubmit); I(vkDeviceWaitIdle);
    I(vkCreateDebugUtilsMessengerEXT); I(vkDestroyDebugUtilsMessengerEXT);
#undef I
}

// MARK: Context

#define MAX_MESSAGES 64
#define SETS_PER_POOL 1024
// A submission that takes longer than this is reported (VK_TIMEOUT) instead of hanging.
#define WAIT_NS (600ull * 1000 * 1000 * 1000)

struct lv_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    uint64_t size;
    void *mapped;   // non-NULL on the direct (host-visible) path
};

struct lv_pipeline {
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
    int bindings;
    uint32_t push_size;
};

struct lv_context {
    lv_fns f;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    lv_device_info info;
    VkPhysicalDeviceMemoryProperties memory;
    int direct;
    VkPipelineCache cache;
    VkCommandPool command_pool;
    VkCommandBuffer cmd;        // the recording command buffer
    VkCommandBuffer once;       // immediate transfers (staging)
    VkFence fence;
    VkDescriptorPool *pools;
    int pool_count, pool_used;
    int recording, pending;
    VkQueryPool queries;
    float timestamp_period;
    int timestamps;
    uint64_t last_gpu_ns;
    lv_traffic traffic;
    lv_buffer *staging;
    pthread_mutex_t message_lock;
    int message_count;
    char *messages[MAX_MESSAGES];
};

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)types;
    lv_context *ctx = user;
    if (!(severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)))
        return VK_FALSE;
    pthread_mutex_lock(&ctx->message_lock);
    if (ctx->message_count < MAX_MESSAGES) ctx->messages[ctx->message_count] = strdup(data->pMessage ? data->pMessage : "?");
    ctx->message_count++;
    pthread_mutex_unlock(&ctx->message_lock);
    return VK_FALSE;
}

int lv_message_count(const lv_context *ctx) { return ctx->message_count; }
const char *lv_message(const lv_context *ctx, int i) {
    return (i >= 0 && i < ctx->message_count && i < MAX_MESSAGES) ? ctx->messages[i] : "";
}

static int has_layer(lv_fns *f, const char *name) {
    uint32_t n = 0;
    if (f->vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkLayerProperties *props = calloc(n, sizeof *props);
    f->vkEnumerateInstanceLayerProperties(&n, props);
    int found = 0;
    for (uint32_t i = 0; i < n; i++) if (!strcmp(props[i].layerName, name)) found = 1;
    free(props);
    return found;
}

static int has_device_extension(lv_fns *f, VkPhysicalDevice pd, const char *name) {
    uint32_t n = 0;
    if (f->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkExtensionProperties *props = calloc(n, sizeof *props);
    f->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, props);
    int found = 0;
    for (uint32_t i = 0; i < n; i++) if (!strcmp(props[i].extensionName, name)) found = 1;
    free(props);
    return found;
}

static int compute_queue_family(lv_fns *f, VkPhysicalDevice pd) {
    uint32_t n = 0;
    f->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
    f->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    int best = -1;
    // Prefer a compute queue without graphics (a dedicated one), else any compute queue.
    for (uint32_t i = 0; i < n; i++)
        if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && (best < 0 || !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))) best = (int)i;
    free(q);
    return best;
}

static void describe(lv_fns *f, VkPhysicalDevice pd, lv_device_info *out) {
    memset(out, 0, sizeof *out);
    VkPhysicalDeviceSubgroupProperties subgroup = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES };
    VkPhysicalDeviceDriverProperties driver = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, .pNext = &subgroup };
    VkPhysicalDeviceMaintenance3Properties m3 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES };
    VkPhysicalDeviceProperties2 props = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2 };
    VkPhysicalDeviceProperties basic;
    f->vkGetPhysicalDeviceProperties(pd, &basic);
    int v12 = basic.apiVersion >= VK_API_VERSION_1_2;
    if (v12 && f->vkGetPhysicalDeviceProperties2) {
        subgroup.pNext = &m3;
        props.pNext = &driver;
        f->vkGetPhysicalDeviceProperties2(pd, &props);
        out->max_buffer_bytes = m3.maxMemoryAllocationSize;
        out->subgroup_size = subgroup.subgroupSize;
        out->subgroup_arithmetic = (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                                   (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT);
        snprintf(out->driver, sizeof out->driver, "%s %s", driver.driverName, driver.driverInfo);
        VkPhysicalDeviceVulkan12Features f12 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES };
        VkPhysicalDeviceVulkan11Features f11 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12 };
        VkPhysicalDeviceFeatures2 feats = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11 };
        f->vkGetPhysicalDeviceFeatures2(pd, &feats);
        out->shader_float16 = f12.shaderFloat16 ? 1 : 0;
        out->storage_16bit = f11.storageBuffer16BitAccess ? 1 : 0;
    }
    snprintf(out->name, sizeof out->name, "%s", basic.deviceName);
    out->type = (int32_t)basic.deviceType;
    uint64_t range = basic.limits.maxStorageBufferRange;
    if (!out->max_buffer_bytes || range < out->max_buffer_bytes) out->max_buffer_bytes = range;
    out->api_version = basic.apiVersion;
    VkPhysicalDeviceMemoryProperties mem;
    f->vkGetPhysicalDeviceMemoryProperties(pd, &mem);
    for (uint32_t i = 0; i < mem.memoryHeapCount; i++)
        if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) out->device_local_bytes += mem.memoryHeaps[i].size;
    out->bfloat16 = has_device_extension(f, pd, "VK_KHR_shader_bfloat16");
    out->cooperative_matrix = has_device_extension(f, pd, "VK_KHR_cooperative_matrix");
    out->usable = v12 && compute_queue_family(f, pd) >= 0;
}

static int type_rank(int32_t type) {
    switch (type) {
    case LV_TYPE_DISCRETE: return 4;
    case LV_TYPE_INTEGRATED: return 3;
    case LV_TYPE_VIRTUAL: return 2;
    case LV_TYPE_CPU: return 1;
    default: return 0;
    }
}

static int create_instance(lv_fns *f, int validation, VkInstance *out, int *debug_utils) {
    const char *layers[1] = { "VK_LAYER_KHRONOS_validation" };
    const char *exts[1] = { VK_EXT_DEBUG_UTILS_EXTENSION_NAME };
    *debug_utils = 0;
    if (validation && !has_layer(f, layers[0]))
        return fail(LV_NO_VALIDATION, "validation asked for (LANTERN_VULKAN_VALIDATION=1) but VK_LAYER_KHRONOS_validation is not installed (Debian: vulkan-validationlayers)");
    VkApplicationInfo app = { .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "lantern",
                              .pEngineName = "lantern", .apiVersion = VK_API_VERSION_1_2 };
    VkInstanceCreateInfo ci = { .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app,
                                .enabledLayerCount = validation ? 1 : 0, .ppEnabledLayerNames = layers,
                                .enabledExtensionCount = validation ? 1 : 0, .ppEnabledExtensionNames = exts };
    VkResult r = f->vkCreateInstance(&ci, NULL, out);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) return fail(LV_NO_DRIVER, "no Vulkan driver: the loader found no ICD (VK_ERROR_INCOMPATIBLE_DRIVER)");
    if (r != VK_SUCCESS) return fail(LV_VULKAN_ERROR, "vkCreateInstance failed (VkResult %d)", (int)r);
    *debug_utils = validation;
    return LV_OK;
}

int lv_list_devices(lv_device_info *out, int capacity, int *count) {
    *count = 0;
    lv_fns f;
    int rc = load_loader(&f);
    if (rc) return rc;
    VkInstance inst;
    int dbg;
    rc = create_instance(&f, 0, &inst, &dbg);
    if (rc) { dlclose(f.lib); return rc; }
    load_instance_fns(&f, inst);
    uint32_t n = 0;
    f.vkEnumeratePhysicalDevices(inst, &n, NULL);
    VkPhysicalDevice *pds = calloc(n ? n : 1, sizeof *pds);
    f.vkEnumeratePhysicalDevices(inst, &n, pds);
    for (uint32_t i = 0; i < n && (int)i < capacity; i++) describe(&f, pds[i], &out[i]);
    *count = (int)n;
    free(pds);
    f.vkDestroyInstance(inst, NULL);
    dlclose(f.lib);
    return LV_OK;
}

void lv_context_info(const lv_context *ctx, lv_device_info *out) { *out = ctx->info; }

static int vk_fail(VkResult r, const char *what) {
    if (r == VK_ERROR_DEVICE_LOST) return fail(LV_VULKAN_ERROR, "device lost during %s", what);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY) return fail(LV_VULKAN_ERROR, "out of device memory during %s", what);
    if (r == VK_ERROR_OUT_OF_HOST_MEMORY) return fail(LV_VULKAN_ERROR, "out of host memory during %s", what);
    return fail(LV_VULKAN_ERROR, "%s failed (VkResult %d)", what, (int)r);
}
#define CHECK(call, what) do { VkResult _r = (call); if (_r != VK_SUCCESS) return vk_fail(_r, what); } while (0)

int lv_create(int index, int allow_cpu, int validation, int direct_memory, lv_context **out) {
    *out = NULL;
    lv_context *ctx = calloc(1, sizeof *ctx);
    pthread_mutex_init(&ctx->message_lock, NULL);
    int rc = load_loader(&ctx->f);
    if (rc) { free(ctx); return rc; }
    lv_fns *f = &ctx->f;
    int dbg = 0;
    rc = create_instance(f, validation, &ctx->instance, &dbg);
    if (rc) { dlclose(f->lib); free(ctx); return rc; }
    load_instance_fns(f, ctx->instance);
    if (dbg && f->vkCreateDebugUtilsMessengerEXT) {
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_message, .pUserData = ctx };
        f->vkCreateDebugUtilsMessengerEXT(ctx->instance, &mi, NULL, &ctx->messenger);
    }
    if (validation && !ctx->messenger) {
        lv_destroy(ctx);
        return fail(LV_NO_VALIDATION, "validation asked for but its debug messenger could not be created (VK_EXT_debug_utils)");
    }
    uint32_t n = 0;
    f->vkEnumeratePhysicalDevices(ctx->instance, &n, NULL);
    VkPhysicalDevice *pds = calloc(n ? n : 1, sizeof *pds);
    f->vkEnumeratePhysicalDevices(ctx->instance, &n, pds);
    int chosen = -1, best_rank = -1;
    for (uint32_t i = 0; i < n; i++) {
        lv_device_info info;
        describe(f, pds[i], &info);
        if (!info.usable) continue;
        if (index >= 0) { if ((int)i == index) chosen = (int)i; continue; }
        if (!allow_cpu && info.type == LV_TYPE_CPU) continue;
        if (type_rank(info.type) > best_rank) { best_rank = type_rank(info.type); chosen = (int)i; }
    }
    if (chosen < 0) {
        free(pds);
        lv_destroy(ctx);
        if (index >= 0) return fail(LV_NO_DEVICE, "no usable Vulkan device %d (%u devices; needs Vulkan 1.2 and a compute queue)", index, n);
        return fail(LV_NO_DEVICE, n == 0 ? "no Vulkan device: the driver lists none"
                                         : (allow_cpu ? "no Vulkan device with Vulkan 1.2 and a compute queue"
                                                      : "no GPU: only CPU-type Vulkan devices (such as lavapipe)"));
    }
    ctx->physical = pds[chosen];
    free(pds);
    describe(f, ctx->physical, &ctx->info);
    f->vkGetPhysicalDeviceMemoryProperties(ctx->physical, &ctx->memory);
    ctx->queue_family = (uint32_t)compute_queue_family(f, ctx->physical);
    ctx->direct = direct_memory >= 0 ? direct_memory
                                     : (ctx->info.type == LV_TYPE_INTEGRATED || ctx->info.type == LV_TYPE_CPU);

    float priority = 1;
    VkDeviceQueueCreateInfo qi = { .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = ctx->queue_family,
                                   .queueCount = 1, .pQueuePriorities = &priority };
    // f16 arithmetic where the device has it: only the opt-in f16 matmul variants use it.
    VkPhysicalDeviceVulkan12Features f12 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                             .shaderFloat16 = ctx->info.shader_float16 ? VK_TRUE : VK_FALSE };
    VkDeviceCreateInfo di = { .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f12, .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qi };
    VkResult r = f->vkCreateDevice(ctx->physical, &di, NULL, &ctx->device);
    if (r != VK_SUCCESS) { lv_destroy(ctx); return vk_fail(r, "vkCreateDevice"); }
    f->vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);

    VkPipelineCacheCreateInfo pci = { .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO };
    VkCommandPoolCreateInfo cpi = { .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, .queueFamilyIndex = ctx->queue_family };
    VkFenceCreateInfo fi = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    if ((r = f->vkCreatePipelineCache(ctx->device, &pci, NULL, &ctx->cache)) != VK_SUCCESS ||
        (r = f->vkCreateCommandPool(ctx->device, &cpi, NULL, &ctx->command_pool)) != VK_SUCCESS ||
        (r = f->vkCreateFence(ctx->device, &fi, NULL, &ctx->fence)) != VK_SUCCESS) {
        lv_destroy(ctx);
        return vk_fail(r, "device setup");
    }
    VkCommandBuffer cbs[2];
    VkCommandBufferAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = ctx->command_pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 2 };
    if ((r = f->vkAllocateCommandBuffers(ctx->device, &ai, cbs)) != VK_SUCCESS) { lv_destroy(ctx); return vk_fail(r, "command buffers"); }
    ctx->cmd = cbs[0];
    ctx->once = cbs[1];

    // Timestamps, where the queue has them.
    uint32_t qn = 0;
    f->vkGetPhysicalDeviceQueueFamilyProperties(ctx->physical, &qn, NULL);
    VkQueueFamilyProperties *qp = calloc(qn, sizeof *qp);
    f->vkGetPhysicalDeviceQueueFamilyProperties(ctx->physical, &qn, qp);
    VkPhysicalDeviceProperties basic;
    f->vkGetPhysicalDeviceProperties(ctx->physical, &basic);
    ctx->timestamp_period = basic.limits.timestampPeriod;
    if (qp[ctx->queue_family].timestampValidBits > 0 && basic.limits.timestampComputeAndGraphics) {
        VkQueryPoolCreateInfo qci = { .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = 2 };
        ctx->timestamps = f->vkCreateQueryPool(ctx->device, &qci, NULL, &ctx->queries) == VK_SUCCESS;
    }
    free(qp);
    *out = ctx;
    return LV_OK;
}

void lv_destroy(lv_context *ctx) {
    if (!ctx) return;
    lv_fns *f = &ctx->f;
    if (ctx->device) {
        f->vkDeviceWaitIdle(ctx->device);
        if (ctx->staging) lv_buffer_destroy(ctx, ctx->staging);
        for (int i = 0; i < ctx->pool_count; i++) f->vkDestroyDescriptorPool(ctx->device, ctx->pools[i], NULL);
        if (ctx->queries) f->vkDestroyQueryPool(ctx->device, ctx->queries, NULL);
        if (ctx->fence) f->vkDestroyFence(ctx->device, ctx->fence, NULL);
        if (ctx->command_pool) f->vkDestroyCommandPool(ctx->device, ctx->command_pool, NULL);
        if (ctx->cache) f->vkDestroyPipelineCache(ctx->device, ctx->cache, NULL);
        f->vkDestroyDevice(ctx->device, NULL);
    }
    free(ctx->pools);
    if (ctx->messenger && f->vkDestroyDebugUtilsMessengerEXT) f->vkDestroyDebugUtilsMessengerEXT(ctx->instance, ctx->messenger, NULL);
    if (ctx->instance) f->vkDestroyInstance(ctx->instance, NULL);
    if (f->lib) dlclose(f->lib);
    for (int i = 0; i < ctx->message_count && i < MAX_MESSAGES; i++) free(ctx->messages[i]);
    pthread_mutex_destroy(&ctx->message_lock);
    free(ctx);
}

// MARK: Buffers

static int memory_type(lv_context *ctx, uint32_t bits, VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < ctx->memory.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (ctx->memory.memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

static int buffer_create(lv_context *ctx, uint64_t size, int host_visible, lv_buffer **out) {
    lv_fns *f = &ctx->f;
    *out = NULL;
    size = (size + 15) & ~(uint64_t)15;
    if (size == 0) size = 16;
    lv_buffer *b = calloc(1, sizeof *b);
    b->size = size;
    VkBufferCreateInfo bi = { .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE };
    VkResult r = f->vkCreateBuffer(ctx->device, &bi, NULL, &b->buffer);
    if (r != VK_SUCCESS) { free(b); return vk_fail(r, "vkCreateBuffer"); }
    VkMemoryRequirements req;
    f->vkGetBufferMemoryRequirements(ctx->device, b->buffer, &req);
    int type = host_visible
        ? memory_type(ctx, req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)
        : memory_type(ctx, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (type < 0) { f->vkDestroyBuffer(ctx->device, b->buffer, NULL); free(b); return fail(LV_NO_MEMORY_TYPE, "no suitable memory type for a %s buffer", host_visible ? "host-visible" : "device-local"); }
    VkMemoryAllocateInfo mi = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size, .memoryTypeIndex = (uint32_t)type };
    r = f->vkAllocateMemory(ctx->device, &mi, NULL, &b->memory);
    if (r != VK_SUCCESS) { f->vkDestroyBuffer(ctx->device, b->buffer, NULL); free(b); return vk_fail(r, "vkAllocateMemory"); }
    f->vkBindBufferMemory(ctx->device, b->buffer, b->memory, 0);
    if (host_visible && (r = f->vkMapMemory(ctx->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped)) != VK_SUCCESS) {
        lv_buffer_destroy(ctx, b);
        return vk_fail(r, "vkMapMemory");
    }
    *out = b;
    return LV_OK;
}

int lv_buffer_create(lv_context *ctx, uint64_t size, lv_buffer **out) { return buffer_create(ctx, size, ctx->direct, out); }

void lv_buffer_destroy(lv_context *ctx, lv_buffer *b) {
    if (!b) return;
    if (b->mapped) ctx->f.vkUnmapMemory(ctx->device, b->memory);
    ctx->f.vkDestroyBuffer(ctx->device, b->buffer, NULL);
    ctx->f.vkFreeMemory(ctx->device, b->memory, NULL);
    free(b);
}

uint64_t lv_buffer_size(const lv_buffer *b) { return b->size; }

// Access bits a set of stages can make: writes on the source side, everything on the destination side.
static VkAccessFlags stage_access(VkPipelineStageFlags stages, int writes_only) {
    VkAccessFlags a = 0;
    if (stages & VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT) a |= VK_ACCESS_SHADER_WRITE_BIT | (writes_only ? 0 : VK_ACCESS_SHADER_READ_BIT);
    if (stages & VK_PIPELINE_STAGE_TRANSFER_BIT) a |= VK_ACCESS_TRANSFER_WRITE_BIT | (writes_only ? 0 : VK_ACCESS_TRANSFER_READ_BIT);
    if (stages & VK_PIPELINE_STAGE_HOST_BIT) a |= VK_ACCESS_HOST_WRITE_BIT | (writes_only ? 0 : VK_ACCESS_HOST_READ_BIT);
    return a;
}

// A global memory barrier: every write in `src` stages is visible to every access in `dst` stages.
static void barrier(lv_context *ctx, VkCommandBuffer cmd, VkPipelineStageFlags src, VkPipelineStageFlags dst) {
    VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = stage_access(src, 1), .dstAccessMask = stage_access(dst, 0) };
    ctx->f.vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
    ctx->traffic.barriers++;
}
#define ALL_STAGES (VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT)

static int ensure_staging(lv_context *ctx, uint64_t size) {
    if (ctx->staging && ctx->staging->size >= size) return LV_OK;
    if (ctx->staging) lv_buffer_destroy(ctx, ctx->staging);
    ctx->staging = NULL;
    uint64_t want = 1 << 20;
    while (want < size) want *= 2;
    return buffer_create(ctx, want, 1, &ctx->staging);
}

// Runs one transfer command on the `once` command buffer and waits.
static int run_once(lv_context *ctx, lv_buffer *src, uint64_t so, lv_buffer *dst, uint64_t dof, uint64_t size, int fill) {
    lv_fns *f = &ctx->f;
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    CHECK(f->vkBeginCommandBuffer(ctx->once, &bi), "vkBeginCommandBuffer");
    barrier(ctx, ctx->once, VK_PIPELINE_STAGE_HOST_BIT | ALL_STAGES, VK_PIPELINE_STAGE_TRANSFER_BIT);
    if (fill) f->vkCmdFillBuffer(ctx->once, dst->buffer, dof, size, 0);
    else {
        VkBufferCopy region = { .srcOffset = so, .dstOffset = dof, .size = size };
        f->vkCmdCopyBuffer(ctx->once, src->buffer, dst->buffer, 1, &region);
    }
    barrier(ctx, ctx->once, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT | ALL_STAGES);
    CHECK(f->vkEndCommandBuffer(ctx->once), "vkEndCommandBuffer");
    VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &ctx->once };
    CHECK(f->vkResetFences(ctx->device, 1, &ctx->fence), "vkResetFences");
    CHECK(f->vkQueueSubmit(ctx->queue, 1, &si, ctx->fence), "vkQueueSubmit");
    ctx->traffic.submits++;
    CHECK(f->vkWaitForFences(ctx->device, 1, &ctx->fence, VK_TRUE, WAIT_NS), "vkWaitForFences");
    return LV_OK;
}

int lv_upload(lv_context *ctx, lv_buffer *b, uint64_t offset, const void *data, uint64_t size) {
    if (offset + size > b->size) return fail(LV_BAD_ARGUMENT, "upload of %llu bytes at %llu overruns a %llu-byte buffer",
                                             (unsigned long long)size, (unsigned long long)offset, (unsigned long long)b->size);
    if (size == 0) return LV_OK;
    ctx->traffic.bytes_to_device += size;
    if (b->mapped) { memcpy((char *)b->mapped + offset, data, size); return LV_OK; }
    // Staged in chunks so the staging buffer stays modest.
    const uint64_t chunk = 64ull << 20;
    for (uint64_t done = 0; done < size; done += chunk) {
        uint64_t n = size - done < chunk ? size - done : chunk;
        int rc = ensure_staging(ctx, n);
        if (rc) return rc;
        memcpy(ctx->staging->mapped, (const char *)data + done, n);
        if ((rc = run_once(ctx, ctx->staging, 0, b, offset + done, n, 0))) return rc;
    }
    return LV_OK;
}

int lv_download(lv_context *ctx, lv_buffer *b, uint64_t offset, void *data, uint64_t size) {
    if (offset + size > b->size) return fail(LV_BAD_ARGUMENT, "download overruns the buffer");
    if (size == 0) return LV_OK;
    ctx->traffic.bytes_from_device += size;
    if (b->mapped) { memcpy(data, (const char *)b->mapped + offset, size); return LV_OK; }
    const uint64_t chunk = 64ull << 20;
    for (uint64_t done = 0; done < size; done += chunk) {
        uint64_t n = size - done < chunk ? size - done : chunk;
        int rc = ensure_staging(ctx, n);
        if (rc) return rc;
        if ((rc = run_once(ctx, b, offset + done, ctx->staging, 0, n, 0))) return rc;
        memcpy((char *)data + done, ctx->staging->mapped, n);
    }
    return LV_OK;
}

int lv_zero(lv_context *ctx, lv_buffer *b, uint64_t offset, uint64_t size) {
    if (offset + size > b->size || (offset & 3) || (size & 3)) return fail(LV_BAD_ARGUMENT, "zero fill outside the buffer or unaligned");
    if (size == 0) return LV_OK;
    if (b->mapped) { memset((char *)b->mapped + offset, 0, size); return LV_OK; }
    return run_once(ctx, NULL, 0, b, offset, size, 1);
}

// MARK: Pipelines

int lv_pipeline_create(lv_context *ctx, const uint32_t *spirv, size_t spirv_bytes, int bindings,
                       uint32_t push_size, const uint32_t *spec, int spec_count, lv_pipeline **out) {
    lv_fns *f = &ctx->f;
    *out = NULL;
    if (bindings < 1 || bindings > 8 || push_size > 128 || (push_size & 3) || spec_count > 16 || (spirv_bytes & 3))
        return fail(LV_BAD_ARGUMENT, "pipeline: %d bindings, %u push bytes, %d spec constants", bindings, push_size, spec_count);
    lv_pipeline *p = calloc(1, sizeof *p);
    p->bindings = bindings;
    p->push_size = push_size;
    VkDescriptorSetLayoutBinding b[8];
    for (int i = 0; i < bindings; i++)
        b[i] = (VkDescriptorSetLayoutBinding){ .binding = (uint32_t)i, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                               .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT };
    VkDescriptorSetLayoutCreateInfo li = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = (uint32_t)bindings, .pBindings = b };
    VkResult r = f->vkCreateDescriptorSetLayout(ctx->device, &li, NULL, &p->set_layout);
    if (r != VK_SUCCESS) { free(p); return vk_fail(r, "vkCreateDescriptorSetLayout"); }
    VkPushConstantRange range = { .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = push_size };
    VkPipelineLayoutCreateInfo pli = { .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1, .pSetLayouts = &p->set_layout,
                                       .pushConstantRangeCount = push_size ? 1 : 0, .pPushConstantRanges = &range };
    if ((r = f->vkCreatePipelineLayout(ctx->device, &pli, NULL, &p->layout)) != VK_SUCCESS) { lv_pipeline_destroy(ctx, p); return vk_fail(r, "vkCreatePipelineLayout"); }
    VkShaderModuleCreateInfo si = { .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = spirv_bytes, .pCode = spirv };
    VkShaderModule module;
    if ((r = f->vkCreateShaderModule(ctx->device, &si, NULL, &module)) != VK_SUCCESS) { lv_pipeline_destroy(ctx, p); return vk_fail(r, "vkCreateShaderModule"); }
    VkSpecializationMapEntry entries[16];
    for (int i = 0; i < spec_count; i++) entries[i] = (VkSpecializationMapEntry){ .constantID = (uint32_t)i, .offset = (uint32_t)(4 * i), .size = 4 };
    VkSpecializationInfo sinfo = { .mapEntryCount = (uint32_t)spec_count, .pMapEntries = entries, .dataSize = (size_t)(4 * spec_count), .pData = spec };
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO, .layout = p->layout,
        .stage = { .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                   .module = module, .pName = "main", .pSpecializationInfo = spec_count ? &sinfo : NULL } };
    r = f->vkCreateComputePipelines(ctx->device, ctx->cache, 1, &ci, NULL, &p->pipeline);
    f->vkDestroyShaderModule(ctx->device, module, NULL);
    if (r != VK_SUCCESS) { lv_pipeline_destroy(ctx, p); return vk_fail(r, "vkCreateComputePipelines"); }
    *out = p;
    return LV_OK;
}

void lv_pipeline_destroy(lv_context *ctx, lv_pipeline *p) {
    if (!p) return;
    if (p->pipeline) ctx->f.vkDestroyPipeline(ctx->device, p->pipeline, NULL);
    if (p->layout) ctx->f.vkDestroyPipelineLayout(ctx->device, p->layout, NULL);
    if (p->set_layout) ctx->f.vkDestroyDescriptorSetLayout(ctx->device, p->set_layout, NULL);
    free(p);
}

// MARK: Recording

static int begin(lv_context *ctx) {
    if (ctx->recording) {
        // Everything recorded earlier may write what this command reads (and vice versa).
        barrier(ctx, ctx->cmd, ALL_STAGES, ALL_STAGES);
        return LV_OK;
    }
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    CHECK(ctx->f.vkBeginCommandBuffer(ctx->cmd, &bi), "vkBeginCommandBuffer");
    ctx->recording = 1;
    // Host writes (direct uploads) before this submission become visible to the shaders.
    barrier(ctx, ctx->cmd, VK_PIPELINE_STAGE_HOST_BIT, ALL_STAGES);
    if (ctx->timestamps) {
        ctx->f.vkCmdResetQueryPool(ctx->cmd, ctx->queries, 0, 2);
        ctx->f.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, ctx->queries, 0);
    }
    return LV_OK;
}

static int descriptor_set(lv_context *ctx, lv_pipeline *p, VkDescriptorSet *out) {
    lv_fns *f = &ctx->f;
    while (1) {
        if (ctx->pool_used < ctx->pool_count) {
            VkDescriptorSetAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                               .descriptorPool = ctx->pools[ctx->pool_used], .descriptorSetCount = 1, .pSetLayouts = &p->set_layout };
            VkResult r = f->vkAllocateDescriptorSets(ctx->device, &ai, out);
            if (r == VK_SUCCESS) return LV_OK;
            if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) return vk_fail(r, "vkAllocateDescriptorSets");
            ctx->pool_used++;
            continue;
        }
        VkDescriptorPoolSize size = { .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = SETS_PER_POOL * 8 };
        VkDescriptorPoolCreateInfo pi = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = SETS_PER_POOL,
                                          .poolSizeCount = 1, .pPoolSizes = &size };
        VkDescriptorPool pool;
        CHECK(f->vkCreateDescriptorPool(ctx->device, &pi, NULL, &pool), "vkCreateDescriptorPool");
        ctx->pools = realloc(ctx->pools, sizeof(VkDescriptorPool) * (size_t)(ctx->pool_count + 1));
        ctx->pools[ctx->pool_count++] = pool;
    }
}

int lv_dispatch(lv_context *ctx, lv_pipeline *p, lv_buffer *const *buffers, int count,
                const void *push, uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz) {
    lv_fns *f = &ctx->f;
    if (count != p->bindings || push_size != p->push_size)
        return fail(LV_BAD_ARGUMENT, "dispatch with %d buffers and %u push bytes for a pipeline of %d and %u", count, push_size, p->bindings, p->push_size);
    if (gx == 0 || gy == 0 || gz == 0) return LV_OK;
    VkDescriptorSet set;
    int rc = descriptor_set(ctx, p, &set);
    if (rc) return rc;
    VkDescriptorBufferInfo infos[8];
    VkWriteDescriptorSet writes[8];
    for (int i = 0; i < count; i++) {
        infos[i] = (VkDescriptorBufferInfo){ .buffer = buffers[i]->buffer, .offset = 0, .range = VK_WHOLE_SIZE };
        writes[i] = (VkWriteDescriptorSet){ .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = (uint32_t)i,
                                            .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &infos[i] };
    }
    f->vkUpdateDescriptorSets(ctx->device, (uint32_t)count, writes, 0, NULL);
    if ((rc = begin(ctx))) return rc;
    f->vkCmdBindPipeline(ctx->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    f->vkCmdBindDescriptorSets(ctx->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    if (push_size) f->vkCmdPushConstants(ctx->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
    f->vkCmdDispatch(ctx->cmd, gx, gy, gz);
    ctx->pending++;
    ctx->traffic.dispatches++;
    return LV_OK;
}

int lv_copy(lv_context *ctx, lv_buffer *src, uint64_t so, lv_buffer *dst, uint64_t dof, uint64_t size) {
    if (so + size > src->size || dof + size > dst->size) return fail(LV_BAD_ARGUMENT, "copy overruns a buffer");
    if (size == 0) return LV_OK;
    int rc = begin(ctx);
    if (rc) return rc;
    VkBufferCopy region = { .srcOffset = so, .dstOffset = dof, .size = size };
    ctx->f.vkCmdCopyBuffer(ctx->cmd, src->buffer, dst->buffer, 1, &region);
    ctx->pending++;
    return LV_OK;
}

int lv_pending(const lv_context *ctx) { return ctx->pending; }

int lv_flush(lv_context *ctx) {
    lv_fns *f = &ctx->f;
    if (!ctx->recording) return LV_OK;
    ctx->recording = 0;
    ctx->pending = 0;
    barrier(ctx, ctx->cmd, ALL_STAGES, VK_PIPELINE_STAGE_HOST_BIT | ALL_STAGES);
    if (ctx->timestamps) f->vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, ctx->queries, 1);
    CHECK(f->vkEndCommandBuffer(ctx->cmd), "vkEndCommandBuffer");
    VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &ctx->cmd };
    CHECK(f->vkResetFences(ctx->device, 1, &ctx->fence), "vkResetFences");
    CHECK(f->vkQueueSubmit(ctx->queue, 1, &si, ctx->fence), "vkQueueSubmit");
    ctx->traffic.submits++;
    CHECK(f->vkWaitForFences(ctx->device, 1, &ctx->fence, VK_TRUE, WAIT_NS), "vkWaitForFences");
    for (int i = 0; i < ctx->pool_count; i++) f->vkResetDescriptorPool(ctx->device, ctx->pools[i], 0);
    ctx->pool_used = 0;
    if (ctx->timestamps) {
        uint64_t t[2];
        if (f->vkGetQueryPoolResults(ctx->device, ctx->queries, 0, 2, sizeof t, t, sizeof t[0], VK_QUERY_RESULT_64_BIT) == VK_SUCCESS)
            ctx->last_gpu_ns = (uint64_t)((double)(t[1] - t[0]) * ctx->timestamp_period);
    }
    return LV_OK;
}

uint64_t lv_last_gpu_ns(const lv_context *ctx) { return ctx->last_gpu_ns; }

void lv_traffic_read(const lv_context *ctx, lv_traffic *out) { *out = ctx->traffic; }
