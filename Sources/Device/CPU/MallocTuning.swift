import CKernels

/// Keeps freed activation buffers in the heap for the next op and forward pass (CKernels
/// ck_tune_malloc). Every op returns a fresh Matrix, and glibc by default maps such sizes afresh or
/// trims the heap top back to the kernel once they are freed, so each layer faulted its buffers in
/// again, zeroing every page: 3–4% of a 512-token prefill. The cost is up to 256 MiB of freed memory
/// kept by the process. Applied once, by the first CPUDevice.
enum MallocTuning {
    static let applied: Bool = ck_tune_malloc() == 1
}
