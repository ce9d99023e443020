// Makes the happens-before edges of Debian's gRPC callback API visible to
// ThreadSanitizer.
//
// Debian's libgrpc and libgrpc++ are not built with -fsanitize=thread. Their
// mutexes are absl::Mutex (made visible by absl_tsan_shim.cc), but a call's
// operations are handed between threads through lock-free code (call
// combiners, closure queues, atomic reference counts compiled into libgrpc++),
// which TSan does not see. What it does see are the accesses that grpcpp's
// inline headers and fetchpool's reactors make on each side of those hand-offs,
// and it reported them as races: a reactor deleted in OnDone against the
// engine thread's Finish or against OnCancel, CallbackWithSuccessTag and
// CallOpSet members set by Finish/StartWrite on one thread and run or
// destroyed on another, a reactor made by the handler against OnCancel.
//
// `./dev.sh sanitize thread` builds this file into build-tsan/grpc_tsan_shim.so
// and LD_PRELOADs it with absl_tsan_shim.so. Being preloaded, its definitions
// of the functions below come first in symbol lookup (libgrpc++ and libgrpc
// call them through their PLT as well; see `readelf -r`); each calls the real
// one (dlsym RTLD_NEXT) and tells TSan the one ordering gRPC guarantees there,
// nothing more:
//
//  1. An operation happens before its completion. grpc_call_start_batch and
//     grpc_server_request_(registered_)call release on the batch's tag;
//     grpc_cq_end_op, which the thread that completes the batch calls before
//     the tag is run (on that thread, or on an executor thread behind an
//     absl::Mutex), acquires it and releases again for the thread that takes
//     the event from the queue (grpc_completion_queue_next / _pluck acquire
//     it). So Finish() on the engine's thread happens before the Finish
//     batch's callback, a write's buffer before OnWriteDone, and so on.
//  2. A call's reactions happen before its OnDone. ServerCallbackCall counts
//     the reactions still to come in std::atomic members of grpcpp's header;
//     TSan sees the decrements made by the header's code, but libgrpc++
//     decrements it in its own, uninstrumented code after OnCancel, and then
//     may schedule OnDone itself (ScheduleOnDone). OnCancel is run through a
//     proxy reactor that releases on the count once the real OnCancel has
//     returned, and ScheduleOnDone acquires it.
//  3. The handler's reactor happens before OnCancel. The handler's side
//     decrements ServerCallbackCall's cancel count in the header (a release
//     TSan sees); CallOnCancel acquires it, for the case where libgrpc++'s
//     CompletionOp decremented it last, uninstrumented, on another thread.
//
// These are gRPC's own guarantees (a tag runs after its operation was started;
// OnDone is the last reaction, after OnCancel has returned; OnCancel comes
// after the handler has returned its reactor: grpcpp/support/server_callback.h),
// so no ordering that gRPC does not provide is made up here: a race between
// fetchpool's own threads (the engine's loop, gRPC's callback threads, the
// test's) that no gRPC operation orders is still reported.
//
// The names and the ServerCallbackCall members are those of Debian 12's gRPC
// 1.51 (grpcpp/support/server_callback.h); a name that does not resolve stops
// the process loudly. Inert in a process without TSan (the weak __tsan_*
// references are then null) or without gRPC (nothing calls it).
#include <dlfcn.h>

#include "tsan_shim_common.h"

#include <cstdio>
#include <cstdlib>

#include <grpc/grpc.h>
#include <grpcpp/support/server_callback.h>


namespace {

using tsan_shim::Acquire;
using tsan_shim::Release;

constexpr char kShimName[] = "grpc_tsan_shim";

#define REAL(type, name) static const auto real = tsan_shim::Real<type>(kShimName, name)

// Delivers OnCancel to `reactor`, then releases on `reactions`, the call's
// count of reactions to come, before libgrpc++ decrements it (item 2 above).
// Made for one OnCancel, after which it deletes itself; OnDone is never sent
// to it.
class ReleaseAfterCancel final : public grpc::internal::ServerReactor {
 public:
  ReleaseAfterCancel(grpc::internal::ServerReactor* reactor, const volatile void* reactions)
      : reactor_(reactor), reactions_(reactions) {}

  void OnCancel() override {
    reactor_->OnCancel();
    Release(reactions_);
    delete this;
  }
  void OnDone() override {}

 private:
  grpc::internal::ServerReactor* const reactor_;
  const volatile void* const reactions_;
};

}  // namespace

struct grpc_cq_completion;

// --- 1. an operation happens before its completion ------------------------------

extern "C" grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops, size_t nops,
                                                 void* tag, void* reserved) {
  REAL(grpc_call_error (*)(grpc_call*, const grpc_op*, size_t, void*, void*),
       "grpc_call_start_batch");
  Release(tag);
  return real(call, ops, nops, tag, reserved);
}

extern "C" grpc_call_error grpc_server_request_call(grpc_server* server, grpc_call** call,
                                                    grpc_call_details* details,
                                                    grpc_metadata_array* request_metadata,
                                                    grpc_completion_queue* cq_bound_to_call,
                                                    grpc_completion_queue* cq_for_notification,
                                                    void* tag) {
  REAL(grpc_call_error (*)(grpc_server*, grpc_call**, grpc_call_details*, grpc_metadata_array*,
                           grpc_completion_queue*, grpc_completion_queue*, void*),
       "grpc_server_request_call");
  Release(tag);
  return real(server, call, details, request_metadata, cq_bound_to_call, cq_for_notification, tag);
}

extern "C" grpc_call_error grpc_server_request_registered_call(
    grpc_server* server, void* registered_method, grpc_call** call, gpr_timespec* deadline,
    grpc_metadata_array* request_metadata, grpc_byte_buffer** optional_payload,
    grpc_completion_queue* cq_bound_to_call, grpc_completion_queue* cq_for_notification,
    void* tag) {
  REAL(grpc_call_error (*)(grpc_server*, void*, grpc_call**, gpr_timespec*, grpc_metadata_array*,
                           grpc_byte_buffer**, grpc_completion_queue*, grpc_completion_queue*,
                           void*),
       "grpc_server_request_registered_call");
  Release(tag);
  return real(server, registered_method, call, deadline, request_metadata, optional_payload,
              cq_bound_to_call, cq_for_notification, tag);
}

// Internal to gRPC (src/core/lib/surface/completion_queue.h), but exported,
// and libgrpc calls it through its PLT: C++ linkage,
//   void grpc_cq_end_op(grpc_completion_queue*, void* tag, grpc_error_handle,
//                       void (*done)(void*, grpc_cq_completion*), void* done_arg,
//                       grpc_cq_completion* storage, bool internal);
// with grpc_error_handle = absl::Status in 1.51. An absl::Status argument is
// passed by the address of the caller's copy (Itanium C++ ABI: a type with a
// non-trivial copy constructor or destructor is passed by invisible
// reference, and the caller destroys it), so the wrapper takes and forwards
// that address untouched: the status is neither copied nor destroyed here.
extern "C" void ShimCqEndOp(grpc_completion_queue* cq, void* tag, void* error_by_address,
                            void (*done)(void*, grpc_cq_completion*), void* done_arg,
                            grpc_cq_completion* storage, bool internal)
    __asm__("_Z14grpc_cq_end_opP21grpc_completion_queuePvN4absl7debian36StatusEPFvS1_P18grpc_cq_"
            "completionES1_S6_b");
extern "C" void ShimCqEndOp(grpc_completion_queue* cq, void* tag, void* error_by_address,
                            void (*done)(void*, grpc_cq_completion*), void* done_arg,
                            grpc_cq_completion* storage, bool internal) {
  REAL(void (*)(grpc_completion_queue*, void*, void*, void (*)(void*, grpc_cq_completion*), void*,
                grpc_cq_completion*, bool),
       "_Z14grpc_cq_end_opP21grpc_completion_queuePvN4absl7debian36StatusEPFvS1_P18grpc_cq_"
       "completionES1_S6_b");
  Acquire(tag);
  Release(tag);
  real(cq, tag, error_by_address, done, done_arg, storage, internal);
}

extern "C" grpc_event grpc_completion_queue_next(grpc_completion_queue* cq, gpr_timespec deadline,
                                                 void* reserved) {
  REAL(grpc_event (*)(grpc_completion_queue*, gpr_timespec, void*), "grpc_completion_queue_next");
  grpc_event event = real(cq, deadline, reserved);
  if (event.type == GRPC_OP_COMPLETE) Acquire(event.tag);
  return event;
}

extern "C" grpc_event grpc_completion_queue_pluck(grpc_completion_queue* cq, void* tag,
                                                  gpr_timespec deadline, void* reserved) {
  REAL(grpc_event (*)(grpc_completion_queue*, void*, gpr_timespec, void*),
       "grpc_completion_queue_pluck");
  grpc_event event = real(cq, tag, deadline, reserved);
  if (event.type == GRPC_OP_COMPLETE) Acquire(event.tag);
  return event;
}

// --- 2. and 3. a server call's reactions ------------------------------------------

namespace grpc {
namespace internal {

void ServerCallbackCall::CallOnCancel(ServerReactor* reactor) {
  REAL(void (*)(ServerCallbackCall*, ServerReactor*),
       "_ZN4grpc8internal18ServerCallbackCall12CallOnCancelEPNS0_13ServerReactorE");
  Acquire(&on_cancel_conditions_remaining_);
  // An inlineable reactor (gRPC's own default reactor) gets OnCancel on this
  // thread, before the count is touched again: nothing to add.
  if (reactor->InternalInlineable()) {
    real(this, reactor);
  } else {
    real(this, new ReleaseAfterCancel(reactor, &callbacks_outstanding_));
  }
}

void ServerCallbackCall::ScheduleOnDone(bool inline_ondone) {
  REAL(void (*)(ServerCallbackCall*, bool),
       "_ZN4grpc8internal18ServerCallbackCall14ScheduleOnDoneEb");
  Acquire(&callbacks_outstanding_);
  real(this, inline_ondone);
}

}  // namespace internal
}  // namespace grpc
