// A thread-safe function to one JS dispatcher per environment, which native threads (engine workers, the
// lease thread) post messages to. Closed by an environment cleanup hook, after which nothing more is posted.
// Queued messages that Node hands over while it tears the environment down reach JS through CallQuietly, which
// tolerates that JS can no longer run.
#pragma once
#include <napi.h>

#include <mutex>

namespace zc {

template <typename Message>
class JsChannel {
 public:
  // On the JS thread: turns a message into the dispatcher's arguments and calls it (with CallQuietly).
  using Deliver = void (*)(Napi::Env env, Napi::Function dispatcher, const Message& message);

  JsChannel(Napi::Env env, Napi::Function dispatcher, const char* name, Deliver deliver) : deliver_(deliver) {
    tsfn_ = Napi::ThreadSafeFunction::New(env, dispatcher, name, 0, 1);
    tsfn_.Unref(env);  // only what the owner refs keeps the process alive
  }

  // Any thread.
  void Post(const Message& message) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!open_) return;
    Message* copy = new Message(message);
    Deliver deliver = deliver_;
    auto call = [deliver](Napi::Env env, Napi::Function dispatcher, Message* m) {
      if (env != nullptr) deliver(env, dispatcher, *m);  // null: the function is being finalized
      delete m;
    };
    if (tsfn_.NonBlockingCall(copy, call) != napi_ok) delete copy;
  }

  void Close() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = false;
  }

  // JS thread only.
  void Ref(Napi::Env env) { tsfn_.Ref(env); }
  void Unref(Napi::Env env) { tsfn_.Unref(env); }

 private:
  std::mutex mutex_;
  bool open_ = true;
  Deliver deliver_;
  Napi::ThreadSafeFunction tsfn_;
};

}  // namespace zc
